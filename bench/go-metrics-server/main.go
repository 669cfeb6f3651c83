// The Go standard-library peer of the benches: net/http serving a fixed
// /metrics body, and, with -tls-listen, the same over HTTPS plus
// net/http/pprof behind the checks pprofgate makes (a client certificate
// verified against -client-ca with an allowed URI SAN, or an RS256 bearer
// JWT with exp, iss and aud checked). Standard library only (Go 1.19).
//
//	go-metrics-server -listen 127.0.0.1:9091 -body metrics.txt
//	go-metrics-server -listen ... -body ... -tls-listen 127.0.0.1:9443 \
//	    -cert server.crt -key server.key -client-ca ca.crt \
//	    -identity spiffe://pprofgate.local/admin -jwt-pub jwt-rs256.pub \
//	    -iss https://issuer.test -aud pprofgate
//
// As in pprofgate, a verified token is remembered until its exp (a map
// under a mutex), so a kept-alive client pays the RSA verification once.
package main

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"log"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type checker struct {
	identity string
	pub      *rsa.PublicKey
	iss, aud string
	mu       sync.Mutex
	tokens   map[string]int64 // token -> exp (unix seconds)
}

func (c *checker) certOK(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return false
	}
	for _, u := range r.TLS.VerifiedChains[0][0].URIs {
		if u.String() == c.identity {
			return true
		}
	}
	return false
}

func (c *checker) verify(tok string) (int64, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || c.pub == nil {
		return 0, errors.New("malformed")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Exp int64           `json:"exp"`
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(h, &hdr) != nil || hdr.Alg != "RS256" {
		return 0, errors.New("header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(c.pub, crypto.SHA256, sum[:], sig); err != nil {
		return 0, err
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(p, &claims) != nil {
		return 0, errors.New("claims")
	}
	if claims.Exp <= time.Now().Unix() || claims.Iss != c.iss || !strings.Contains(string(claims.Aud), `"`+c.aud+`"`) {
		return 0, errors.New("claims")
	}
	return claims.Exp, nil
}

func (c *checker) tokenOK(r *http.Request) bool {
	a := r.Header.Values("Authorization")
	if len(a) != 1 || !strings.HasPrefix(a[0], "Bearer ") {
		return false
	}
	tok := a[0][len("Bearer "):]
	now := time.Now().Unix()
	c.mu.Lock()
	exp, ok := c.tokens[tok]
	c.mu.Unlock()
	if ok && exp > now {
		return true
	}
	exp, err := c.verify(tok)
	if err != nil {
		return false
	}
	c.mu.Lock()
	if len(c.tokens) > 1024 {
		c.tokens = map[string]int64{}
	}
	c.tokens[tok] = exp
	c.mu.Unlock()
	return true
}

func (c *checker) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.certOK(r) && !c.tokenOK(r) {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func readPub(path string) *rsa.PublicKey {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		log.Fatal("no PEM in ", path)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		log.Fatal(path, " is not an RSA key")
	}
	return pub
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9091", "host:port to listen on (plain HTTP)")
	bodyFile := flag.String("body", "", "file whose bytes /metrics serves")
	tlsListen := flag.String("tls-listen", "", "also serve HTTPS (with /debug/pprof/) on host:port")
	certFile := flag.String("cert", "", "server certificate (PEM)")
	keyFile := flag.String("key", "", "server key (PEM)")
	caFile := flag.String("client-ca", "", "CA bundle for client certificates (requested, verified if given)")
	identity := flag.String("identity", "", "URI SAN a client certificate must carry")
	jwtPub := flag.String("jwt-pub", "", "RS256 public key (PEM) for bearer tokens")
	iss := flag.String("iss", "", "required iss")
	aud := flag.String("aud", "", "required aud")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		h.Set("Content-Length", length)
		w.Write(body)
	})
	http.Handle("/metrics", metrics)
	if *tlsListen != "" {
		c := &checker{identity: *identity, pub: readPub(*jwtPub), iss: *iss, aud: *aud, tokens: map[string]int64{}}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics)
		mux.Handle("/debug/pprof/", c.guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", c.guard(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", c.guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", c.guard(http.HandlerFunc(pprof.Symbol)))
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if *caFile != "" {
			pemCA, err := os.ReadFile(*caFile)
			if err != nil {
				log.Fatal(err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemCA) {
				log.Fatal("no CA in ", *caFile)
			}
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
		srv := &http.Server{Addr: *tlsListen, Handler: mux, TLSConfig: cfg}
		go func() { log.Fatal(srv.ListenAndServeTLS(*certFile, *keyFile)) }()
	}
	log.Fatal(http.ListenAndServe(*listen, nil))
}
