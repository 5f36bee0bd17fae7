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
func TrustHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := FromHeader(r)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrMissing) {
				status = http.StatusUnauthorized
			}
			http.Error(w, "tenant: "+err.Error(), status)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithID(r.Context(), id)))
	})
}

// InjectHeader sets the tenant header on an outgoing request.
func InjectHeader(r *http.Request, id ID) {
	r.Header.Set(Header, string(id))
}
