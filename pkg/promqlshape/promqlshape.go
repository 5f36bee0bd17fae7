package promqlshape

import "github.com/prometheus/prometheus/promql/parser"

// Shape is what one pass of the PromQL lexer tells of an expression.
type Shape struct {
	// Tokens is the number of tokens lexed.
	Tokens int
	// Depth bounds the depth of the expression's syntax tree from above:
	// each level of parentheses adds one plus the operators, range
	// brackets and modifiers chained at that level, above the deepest
	// level closed inside it. Label matchers ({...}) add no depth.
	Depth int
}

// Scan lexes expr once and returns its shape, stopping early once the
// tokens pass maxTokens or the depth passes maxDepth (0: no bound); an
// early stop returns the counts so far, each already over its bound or
// a lower bound of the whole. A lexing error stops the scan too: the
// parser reports it. Unclosed parentheses count as closed at the end.
func Scan(expr string, maxTokens, maxDepth int) Shape {
	// Each open level of parentheses counts its operators and the deepest
	// level closed inside it. A closed level is ops+1+deepest deep; the
	// open ones add up to open.
	type level struct{ ops, deepest int }
	var (
		shape  Shape
		stack  = []level{{}}
		open   = 1
		braces int
		item   parser.Item
	)
	closeLevel := func() {
		closed := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		open -= closed.ops + 1
		top := &stack[len(stack)-1]
		top.deepest = max(top.deepest, closed.ops+1+closed.deepest)
	}
	lex := parser.Lex(expr)
	for {
		lex.NextItem(&item)
		if item.Typ == parser.EOF || item.Typ == parser.ERROR {
			break
		}
		shape.Tokens++
		switch {
		case item.Typ == parser.LEFT_BRACE:
			braces++
		case item.Typ == parser.RIGHT_BRACE:
			braces = max(braces-1, 0)
		case braces > 0:
			// Label matchers: their operators are no nodes.
		case item.Typ == parser.LEFT_PAREN:
			stack = append(stack, level{})
			open++
		case item.Typ == parser.RIGHT_PAREN:
			if len(stack) > 1 {
				closeLevel()
			}
		case item.Typ.IsOperator(), item.Typ == parser.LEFT_BRACKET, item.Typ == parser.OFFSET, item.Typ == parser.AT:
			stack[len(stack)-1].ops++
			open++
		}
		// The open levels bound the final depth from below.
		shape.Depth = max(shape.Depth, open+stack[len(stack)-1].deepest)
		if (maxTokens > 0 && shape.Tokens > maxTokens) || (maxDepth > 0 && shape.Depth > maxDepth) {
			return shape
		}
	}
	// Unclosed levels are the parser's to report; count them closed.
	for len(stack) > 1 {
		closeLevel()
	}
	shape.Depth = max(shape.Depth, stack[0].ops+1+stack[0].deepest)
	return shape
}
