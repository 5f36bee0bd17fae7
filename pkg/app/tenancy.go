package app

import (
	"net/http"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantHTTP puts the request's tenant in its context: the one place where
// public HTTP requests are bound to a tenant.
func (a *App) tenantHTTP(next http.Handler) http.Handler {
	return tenant.TrustHeader(next)
}
