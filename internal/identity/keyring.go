package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Keyring holds the server's secret and the keys derived from it: one seals access-key secrets at rest,
// one signs authorization tokens. Every node of an installation must share the same server secret.
type Keyring struct {
	seal  cipher.AEAD
	token []byte
}

// NewKeyring derives the keys from a 32-byte server secret.
func NewKeyring(secret []byte) (*Keyring, error) {
	if len(secret) < 32 {
		return nil, errors.New("server secret must be at least 32 bytes")
	}
	block, err := aes.NewCipher(derive(secret, "wharf seal v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{seal: aead, token: derive(secret, "wharf token v1")}, nil
}

func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// LoadOrCreateSecret returns the server secret: from value (base64) when set, else from the file
// <dir>/server.key, created (mode 0600) on first use.
func LoadOrCreateSecret(dir, value string) ([]byte, error) {
	if value != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil || len(b) < 32 {
			return nil, errors.New("the server secret must be at least 32 bytes, base64-encoded")
		}
		return b, nil
	}
	path := filepath.Join(dir, "server.key")
	if data, err := os.ReadFile(path); err == nil {
		return LoadOrCreateSecret(dir, string(data))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process created it meanwhile
		return LoadOrCreateSecret(dir, "")
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(secret) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return secret, f.Close()
}

// Seal encrypts plaintext, bound to context (for example the access key id) so sealed values cannot be
// swapped between rows.
func (k *Keyring) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, k.seal.NonceSize())
	rand.Read(nonce)
	return k.seal.Seal(nonce, nonce, plaintext, []byte(context))
}

// Open decrypts what Seal sealed with the same context.
func (k *Keyring) Open(sealed []byte, context string) ([]byte, error) {
	n := k.seal.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	out, err := k.seal.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("sealed value does not open with this server secret: %w", err)
	}
	return out, nil
}

// Sign returns the HMAC-SHA256 of msg under the token key.
func (k *Keyring) Sign(msg []byte) []byte {
	m := hmac.New(sha256.New, k.token)
	m.Write(msg)
	return m.Sum(nil)
}
