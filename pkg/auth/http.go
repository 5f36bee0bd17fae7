package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Failure reasons, the values of hearth_auth_failures_total's reason label.
const (
	reasonMissing       = "missing"        // no credentials
	reasonMalformed     = "malformed"      // not a Hearth key, or a bad Authorization header
	reasonInvalidTenant = "invalid_tenant" // Basic user is not a valid tenant ID
	reasonUnknownKey    = "unknown_key"    // no key with that id
	reasonBadSecret     = "bad_secret"     // id exists, secret wrong
	reasonRevoked       = "revoked"
	reasonExpired       = "expired"
	reasonWrongTenant   = "wrong_tenant" // Basic user is not the key's tenant
	reasonMissingScope  = "missing_scope"
	reasonRateLimited   = "rate_limited"        // this (source, tenant or key id) failed too often
	reasonLookupLimited = "lookup_rate_limited" // this source asked for too many keys that do not exist
	reasonStoreError    = "store_error"
	reasonOperator      = "operator" // bad or missing operator credential
	reasonCluster       = "cluster"  // a bad cluster member's signature (ClusterHTTPHeader)
)

// Challenges sent with 401.
const (
	challenge         = `Basic realm="hearth"`
	operatorChallenge = operatorBrowserChallenge
)

// refusal is why a request was refused and what the client is told. The
// message never contains the presented credential.
type refusal struct {
	status int
	reason string
	msg    string
	keyID  string
	tenant tenant.ID
	// charge, when set, is the key the failure is charged to in limiter
	// (the authenticator's pair limiter when nil).
	charge     string
	limiter    *failureLimiter
	retryAfter time.Duration
}

// with returns a copy of a shared refusal, to be charged.
func (r *refusal) with() *refusal { c := *r; return &c }

var (
	refuseMissing   = &refusal{status: http.StatusUnauthorized, reason: reasonMissing, msg: "authentication required: Basic auth (tenant and API key) or Authorization: Bearer <API key>"}
	refuseMalformed = &refusal{status: http.StatusUnauthorized, reason: reasonMalformed, msg: "invalid API key"}
)

// Middleware returns HTTP middleware that binds each request to a tenant
// by -auth.mode and requires one of scope's scopes from its API key (read
// routes of the rules API take ScopeRead|ScopeRules), then calls the next
// handler with tenant.WithID in the request's context.
func (a *Authenticator) Middleware(scope Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		switch a.mode {
		case ModeTrustHeader:
			if a.federates(scope) {
				return tenant.TrustFederatedHeader(next)
			}
			return tenant.TrustHeader(next)
		case ModeNone:
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(tenant.WithID(r.Context(), a.noneTenant)))
			})
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a.cluster != nil && scope == ScopeRead && r.Header.Get(ClusterHTTPHeader) != "" {
				id, err := a.cluster.verifyHTTP(r)
				if err != nil {
					a.refuse(w, r, &refusal{status: http.StatusUnauthorized, reason: reasonCluster, msg: err.Error()}, challenge)
					return
				}
				next.ServeHTTP(w, r.WithContext(tenant.WithID(r.Context(), id)))
				return
			}
			id, ref := a.authenticate(r, scope)
			if ref != nil {
				a.refuse(w, r, ref, challenge)
				return
			}
			next.ServeHTTP(w, r.WithContext(tenant.WithID(r.Context(), id)))
		})
	}
}

// authenticate checks r's API key for scope and returns its tenant.
//
// Failures are charged to the pair (source, claimed tenant or key id), and
// a pair that failed too often gets 429 instead of 401, but only for a
// credential that does not verify: a good key is served whatever else its
// source or its tenant's name has been used for. A blocked pair causes no
// store read for a key id not known to exist; an unblocked one causes at
// most -auth.failure-rate-limit such reads per second per source.
func (a *Authenticator) authenticate(r *http.Request, scope Scope) (tenant.ID, *refusal) {
	token, user, hasUser, ref := requestCredentials(r)
	if ref != nil {
		return "", ref
	}
	src := source(r)
	if hasUser {
		parse := tenant.Parse
		if a.federates(scope) {
			parse = tenant.ParseFederated
		}
		id, err := parse(user)
		if err != nil {
			return "", &refusal{status: http.StatusBadRequest, reason: reasonInvalidTenant, msg: "tenant: " + err.Error(), charge: pairKey(src, "")}
		}
		user = string(id)
	}
	id, err := ParseToken(token)
	// The principal is what the client claims to be: the tenant of Basic
	// auth, else the key id (free to choose, so unknown ids are bounded by
	// the lookup budget below, not by this pair).
	principal := id
	if hasUser {
		principal = user
	}
	pair := pairKey(src, principal)
	now := time.Now()
	blocked, wait := false, time.Duration(0)
	if a.limiter.active() {
		blocked, wait = a.limiter.blocked(pair, now)
	}
	limited := func(ref *refusal) *refusal {
		if blocked && ref.status == http.StatusUnauthorized {
			return &refusal{status: http.StatusTooManyRequests, reason: reasonRateLimited, retryAfter: wait,
				msg: "too many authentication failures for this tenant or key from this address, retry later", keyID: ref.keyID}
		}
		ref.charge = pair
		return ref
	}
	if err != nil {
		return "", limited(refuseMalformed.with())
	}
	k, err := a.lookup(r.Context(), id, func() bool { return !blocked && a.lookups.take(src, now) })
	if errors.Is(err, errLookupLimited) {
		if blocked {
			return "", limited(&refusal{status: http.StatusUnauthorized, keyID: id})
		}
		_, wait := a.lookups.blocked(src, now)
		return "", &refusal{status: http.StatusTooManyRequests, reason: reasonLookupLimited, retryAfter: wait, keyID: id,
			msg: "too many unknown API keys from this address, retry later"}
	}
	if err != nil {
		a.logger.Warn("Reading an API key failed", "err", err, "key_id", id)
		return "", &refusal{status: http.StatusServiceUnavailable, reason: reasonStoreError, msg: "authentication unavailable, retry later", keyID: id}
	}
	t, ref := a.check(k, token, id, user, hasUser, scope)
	if ref != nil {
		return "", limited(ref)
	}
	return t, nil
}

// check verifies token against k, the record of key id (nil when there is
// none), and the claimed tenant and scope.
func (a *Authenticator) check(k *Key, token, id, user string, hasUser bool, scope Scope) (tenant.ID, *refusal) {
	if k == nil {
		return "", &refusal{status: http.StatusUnauthorized, reason: reasonUnknownKey, msg: "invalid API key", keyID: id}
	}
	if !k.matches(token) {
		return "", &refusal{status: http.StatusUnauthorized, reason: reasonBadSecret, msg: "invalid API key", keyID: id}
	}
	switch k.State(time.Now()) {
	case StateRevoked:
		return "", &refusal{status: http.StatusUnauthorized, reason: reasonRevoked, msg: "API key revoked", keyID: id, tenant: k.Tenant}
	case StateExpired:
		return "", &refusal{status: http.StatusUnauthorized, reason: reasonExpired, msg: "API key expired", keyID: id, tenant: k.Tenant}
	}
	if !k.Scopes.HasAny(scope) {
		return "", &refusal{status: http.StatusForbidden, reason: reasonMissingScope, msg: "API key lacks the " + scope.Alternatives() + " scope", keyID: id, tenant: k.Tenant}
	}
	if !hasUser {
		return k.Tenant, nil
	}
	for _, t := range tenant.ID(user).Tenants() {
		if !k.mayAct(t, scope) {
			msg := "API key does not belong to tenant " + string(t)
			if scope == ScopeRead {
				msg += " and grants no read on it"
			}
			return "", &refusal{status: http.StatusForbidden, reason: reasonWrongTenant, msg: msg, keyID: id, tenant: k.Tenant}
		}
	}
	return tenant.ID(user), nil
}

// requestCredentials reads the key (and, for Basic auth, the tenant) from r.
func requestCredentials(r *http.Request) (token, user string, hasUser bool, ref *refusal) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, refuseMissing
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		token = strings.TrimSpace(rest)
		if token == "" {
			return "", "", false, refuseMalformed
		}
		return token, "", false, nil
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "", "", false, refuseMalformed
		}
		if user == "" {
			return "", "", false, &refusal{status: http.StatusUnauthorized, reason: reasonMissing, msg: "Basic auth user must be the tenant ID"}
		}
		return pass, user, true, nil
	default:
		return "", "", false, refuseMalformed
	}
}

// refuse answers ref, counts it and charges it to ref.charge, if any.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, ref *refusal, chal string) {
	a.failures.WithLabelValues(ref.reason).Inc()
	if ref.charge != "" {
		l := ref.limiter
		if l == nil {
			l = a.limiter
		}
		l.fail(ref.charge, time.Now())
	}
	a.logger.Debug("Request refused", "reason", ref.reason, "source", source(r), "key_id", ref.keyID, "tenant", string(ref.tenant), "path", r.URL.Path)
	switch ref.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", chal)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(ref.retryAfter/time.Second)+1))
	}
	msg := ref.msg
	if id := errorIDs[ref.reason]; id != "" {
		msg += " (" + id + ")"
	}
	http.Error(w, msg, ref.status)
}

// errorIDs are the error IDs of the refusals, each the section of
// docs/errors.md that explains it. An unknown key id and a wrong secret
// share one: the answer must not tell them apart.
var errorIDs = map[string]string{
	reasonMissing:       "err-hearth-auth-missing",
	reasonMalformed:     "err-hearth-auth-invalid-key",
	reasonUnknownKey:    "err-hearth-auth-invalid-key",
	reasonBadSecret:     "err-hearth-auth-invalid-key",
	reasonInvalidTenant: "err-hearth-invalid-tenant",
	reasonRevoked:       "err-hearth-auth-key-revoked",
	reasonExpired:       "err-hearth-auth-key-expired",
	reasonWrongTenant:   "err-hearth-auth-wrong-tenant",
	reasonMissingScope:  "err-hearth-auth-missing-scope",
	reasonRateLimited:   "err-hearth-auth-rate-limited",
	reasonLookupLimited: "err-hearth-auth-rate-limited",
	reasonStoreError:    "err-hearth-auth-unavailable",
	reasonOperator:      "err-hearth-operator-credential",
	reasonCluster:       "err-hearth-cluster-credential",
}

// Operator returns middleware that requires the operator credential
// (Authorization: Bearer <operator token>, or Basic auth with it as the
// password, so a browser can prompt for it) whatever -auth.mode says. The
// token is checked first (in constant time, reading nothing), so a valid
// one is never refused; bad ones are charged to their source in a limiter
// of their own, apart from tenants' failures.
func (a *Authenticator) Operator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.operator.equal(operatorCredential(r)) {
			next.ServeHTTP(w, r)
			return
		}
		src := source(r)
		if a.opLimiter.active() {
			if blocked, wait := a.opLimiter.blocked(src, time.Now()); blocked {
				a.refuse(w, r, &refusal{status: http.StatusTooManyRequests, reason: reasonRateLimited, retryAfter: wait,
					msg: "too many operator authentication failures from this address, retry later"}, operatorChallenge)
				return
			}
		}
		a.refuse(w, r, &refusal{status: http.StatusUnauthorized, reason: reasonOperator, charge: src, limiter: a.opLimiter,
			msg: "operator credential required (Authorization: Bearer <token from the operator token file>, or Basic auth with the token as password)"}, operatorChallenge)
	})
}

// federates reports whether requests needing scope may name several
// tenants: reads only, with -tenant-federation.enabled.
func (a *Authenticator) federates(scope Scope) bool {
	return a.federation && scope == ScopeRead
}
