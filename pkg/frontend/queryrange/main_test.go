package queryrange

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.PanicOnError) }
