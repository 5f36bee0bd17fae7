package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// OperatorTokenFileName is the operator credential's file in the data
// directory when -auth.operator-token-file is not set.
const OperatorTokenFileName = "operator-token"

// ErrInsecureFile is returned for a credential file that others than its
// owner may write: anyone could replace the credential.
var ErrInsecureFile = errors.New("credential file writable by group or others")

// OperatorToken is the loaded operator credential and where it lives.
type OperatorToken struct {
	Token Secret
	Path  string
	// Created is true when this call created the file.
	Created bool
	// Exposed is true when group or others may read the file (Kubernetes
	// mounts secrets 0644 by default); the wiring should warn.
	Exposed bool
}

// LoadOrCreateOperatorToken reads the operator credential from path,
// creating the file (mode 0600, its directory 0700) with a fresh random
// token when it does not exist. A file that group or others may write is
// refused with ErrInsecureFile.
func LoadOrCreateOperatorToken(path string) (OperatorToken, error) {
	tok, exposed, err := readSecretFile(path)
	if err == nil {
		return OperatorToken{Token: tok, Path: path, Exposed: exposed}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return OperatorToken{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return OperatorToken{}, fmt.Errorf("creating the directory of the operator token: %w", err)
	}
	secret := NewSecret(operatorLabel + randomString(secretBytes))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		tok, exposed, err := readSecretFile(path)
		return OperatorToken{Token: tok, Path: path, Exposed: exposed}, err
	}
	if err != nil {
		return OperatorToken{}, fmt.Errorf("creating the operator token file: %w", err)
	}
	_, werr := f.WriteString(secret.Reveal() + "\n")
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		_ = os.Remove(path)
		return OperatorToken{}, fmt.Errorf("writing the operator token file %s: %w", path, err)
	}
	return OperatorToken{Token: secret, Path: path, Created: true}, nil
}

// readSecretFile reads a credential file, refusing one that group or
// others may write, and trims surrounding white space. exposed reports
// whether group or others may read it.
func readSecretFile(path string) (s Secret, exposed bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return Secret{}, false, fmt.Errorf("reading credential file: %w", err)
	}
	// The mode is checked on the file itself: a symlink (Kubernetes
	// secret volumes use them) is followed by Stat.
	if st.Mode().Perm()&0o022 != 0 {
		return Secret{}, false, fmt.Errorf("%w: %s has mode %04o; chmod 600 it", ErrInsecureFile, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, false, fmt.Errorf("reading credential file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return Secret{}, false, fmt.Errorf("credential file %s is empty", path)
	}
	return NewSecret(v), st.Mode().Perm()&0o044 != 0, nil
}

// ReadOperatorToken reads an existing operator token file (for clients
// such as package auth/cli).
func ReadOperatorToken(path string) (Secret, error) {
	s, _, err := readSecretFile(path)
	return s, err
}

// operatorBrowserChallenge makes a browser ask for the operator credential:
// browsers prompt for Basic, not Bearer. Any user name goes with the token
// as password; the token never travels in a URL.
const operatorBrowserChallenge = `Basic realm="hearth operator: any user, the operator token as password", charset="UTF-8"`

// operatorCredential returns the operator token r presents: the Bearer
// token (curl, `hearth keys`), or the password of Basic auth (a browser,
// or a Prometheus scrape's basic_auth), whatever the user name.
func operatorCredential(r *http.Request) string {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
