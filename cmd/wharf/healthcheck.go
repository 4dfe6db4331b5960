package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck asks a server whether it is healthy (GET /healthz) and fails unless it answers 200 OK: the
// container image's HEALTHCHECK, which has no shell or curl. By default it asks the server of this
// environment, on the address serve listens on (WHARF_ADDR), over TLS when serve has a certificate
// (WHARF_TLS_CERT); a config file is not read, so give --url or --addr when the server takes its address
// from one.
func healthcheck(args []string) error {
	fs := flag.NewFlagSet("wharf healthcheck", flag.ContinueOnError)
	url := fs.String("url", "", "URL to GET, e.g. https://registry.example.com/healthz (default: /healthz at --addr)")
	addr := fs.String("addr", "127.0.0.1:5000", "address the server listens on, as given to serve; an unspecified host means this host")
	tlsCert := fs.String("tls-cert", "", "set when the server serves TLS, as given to serve; its certificate is not verified at --addr")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	client := &http.Client{Timeout: *timeout}
	target := *url
	if target == "" {
		host, port, err := net.SplitHostPort(*addr)
		if err != nil {
			return fmt.Errorf("--addr %q: %w", *addr, err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		scheme := "http"
		if *tlsCert != "" {
			// The server on this address is ours; the question is only whether it answers, and its
			// certificate names the registry's host, not the address dialled.
			scheme = "https"
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		}
		target = scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	}
	res, err := client.Get(target)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s: %s", target, res.Status, body)
	}
	return nil
}
