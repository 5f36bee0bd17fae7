package auth

import (
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
	reasonRateLimited   = "rate_limited"
	reasonStoreError    = "store_error"
	reasonOperator      = "operator" // bad or missing operator credential
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
}

var (
	refuseMissing   = &refusal{status: http.StatusUnauthorized, reason: reasonMissing, msg: "authentication required: Basic auth (tenant and API key) or Authorization: Bearer <API key>"}
	refuseMalformed = &refusal{status: http.StatusUnauthorized, reason: reasonMalformed, msg: "invalid API key"}
)

// Middleware returns HTTP middleware that binds each request to a tenant
// by -auth.mode and requires scope from its API key, then calls the next
// handler with tenant.WithID in the request's context.
func (a *Authenticator) Middleware(scope Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		switch a.mode {
		case ModeTrustHeader:
			return tenant.TrustHeader(next)
		case ModeNone:
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(tenant.WithID(r.Context(), a.noneTenant)))
			})
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a.rateLimited(w, r) {
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
func (a *Authenticator) authenticate(r *http.Request, scope Scope) (tenant.ID, *refusal) {
	token, user, hasUser, ref := requestCredentials(r)
	if ref != nil {
		return "", ref
	}
	if hasUser {
		if err := tenant.Validate(user); err != nil {
			return "", &refusal{status: http.StatusBadRequest, reason: reasonInvalidTenant, msg: "tenant: " + err.Error()}
		}
	}
	id, err := ParseToken(token)
	if err != nil {
		return "", refuseMalformed
	}
	k, err := a.lookup(r.Context(), id)
	if err != nil {
		a.logger.Warn("Reading an API key failed", "err", err, "key_id", id)
		return "", &refusal{status: http.StatusServiceUnavailable, reason: reasonStoreError, msg: "authentication unavailable, retry later", keyID: id}
	}
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
	if hasUser && tenant.ID(user) != k.Tenant {
		return "", &refusal{status: http.StatusForbidden, reason: reasonWrongTenant, msg: "API key does not belong to tenant " + user, keyID: id, tenant: k.Tenant}
	}
	if !k.Scopes.Has(scope) {
		return "", &refusal{status: http.StatusForbidden, reason: reasonMissingScope, msg: "API key lacks the " + scope.String() + " scope", keyID: id, tenant: k.Tenant}
	}
	return k.Tenant, nil
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

// rateLimited answers 429 when r's source has failed too often.
func (a *Authenticator) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	if !a.limiter.active() {
		return false
	}
	blocked, wait := a.limiter.blocked(source(r), time.Now())
	if !blocked {
		return false
	}
	a.failures.WithLabelValues(reasonRateLimited).Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	http.Error(w, "too many authentication failures, retry later", http.StatusTooManyRequests)
	return true
}

// refuse answers ref, counts it and, unless the failure is the server's,
// charges it to the source.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, ref *refusal, chal string) {
	a.failures.WithLabelValues(ref.reason).Inc()
	src := source(r)
	if ref.status != http.StatusServiceUnavailable && ref.reason != reasonMissing {
		a.limiter.fail(src, time.Now())
	}
	a.logger.Debug("Request refused", "reason", ref.reason, "source", src, "key_id", ref.keyID, "tenant", string(ref.tenant), "path", r.URL.Path)
	if ref.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", chal)
	}
	http.Error(w, ref.msg, ref.status)
}

// Operator returns middleware that requires the operator credential
// (Authorization: Bearer <operator token>, or Basic auth with it as the
// password) whatever -auth.mode says.
func (a *Authenticator) Operator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.rateLimited(w, r) {
			return
		}
		if !a.operator.equal(operatorCredential(r)) {
			ref := &refusal{status: http.StatusUnauthorized, reason: reasonOperator, msg: "operator credential required (Authorization: Bearer <token from the operator token file>, or Basic auth with the token as password)"}
			a.refuse(w, r, ref, operatorChallenge)
			return
		}
		next.ServeHTTP(w, r)
	})
}
