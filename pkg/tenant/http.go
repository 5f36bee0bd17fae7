package tenant

import (
	"errors"
	"net/http"
)

// Header is the HTTP header that names the tenant when the caller is
// trusted to say it (behind an authenticating gateway, or in tests).
const Header = "X-Scope-OrgID"

// FromHeader validates the tenant named by r's [Header].
func FromHeader(r *http.Request) (ID, error) {
	return Parse(r.Header.Get(Header))
}

// TrustHeader is HTTP middleware that takes the tenant from [Header] and puts
// it in the request's context. A missing tenant gets 401, an invalid one 400;
// the body names the problem.
func TrustHeader(next http.Handler) http.Handler { return trustHeader(Parse, next) }

// TrustFederatedHeader is [TrustHeader] for routes that tenant federation
// covers: the header may name several tenants ("a|b", [ParseFederated]).
func TrustFederatedHeader(next http.Handler) http.Handler { return trustHeader(ParseFederated, next) }

func trustHeader(parse func(string) (ID, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := parse(r.Header.Get(Header))
		if err != nil {
			status, id := http.StatusBadRequest, "err-hearth-invalid-tenant"
			if errors.Is(err, ErrMissing) {
				status, id = http.StatusUnauthorized, "err-hearth-missing-tenant"
			}
			http.Error(w, "tenant: "+err.Error()+" ("+id+")", status)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithID(r.Context(), id)))
	})
}

// InjectHeader sets the tenant header on an outgoing request.
func InjectHeader(r *http.Request, id ID) {
	r.Header.Set(Header, string(id))
}
