// The probe: ask one Target its question under one deadline, and end as a Result
// with exactly one outcome, the same eleven words as Python's patterns.probe.OUTCOMES.
//
// Where Python's drivers move bytes through a sans-IO h11 core, Go's net/http is the
// HTTP client itself, and the deadline is a context.Context: every call below takes
// ctx, and when its deadline passes, whatever call is blocked returns an error. That
// is what Python's three runtimes each rebuild in their own way (a socket timeout
// that shrinks, a cancel scope, asyncio.timeout).

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BodyCap is how much of a body a probe reads (1 MiB, Python's BODY_CAP); one more
// byte is too_large.
const BodyCap = 1 << 20

// HeaderCap bounds the response head (status line and headers), as h11's default.
const HeaderCap = 16 * 1024

const userAgent = "patterns.probe/0.1 (go)"

// Result is how one probe ended: Python's ProbeResult. Pointers stand for the
// fields that may be None (JSON null).
type Result struct {
	Target      Target
	Outcome     string
	Status      *int
	Latency     float64 // seconds from the start of the probe to its verdict
	Error       *string
	CertExpires *float64 // https: the leaf certificate's notAfter, seconds since the epoch
}

// Prober holds what every probe of a scan shares: the TLS trust (system roots plus
// an optional CA) and one http.Transport. A Transport is safe for concurrent use,
// so one serves every goroutine, as one ssl.SSLContext serves Python's probes.
type Prober struct {
	tls       *tls.Config
	transport *http.Transport
	client    *http.Client
}

// NewProber trusts the system's roots plus caPEM (if not empty); insecure skips
// verification. Go counterpart of Python's TlsConfig.
func NewProber(caPEM string, insecure bool) (*Prober, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool() // no system store here: trust caPEM only
	}
	if caPEM != "" && !roots.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("no PEM certificate in the CA bundle")
	}
	p := &Prober{tls: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}}
	p.transport = &http.Transport{
		Proxy:                  nil, // never a proxy from the environment: we probe the host itself
		DialContext:            (&net.Dialer{}).DialContext,
		DialTLSContext:         p.dialTLS, // ours, to tell a TLS failure from the rest
		DisableKeepAlives:      true,      // one request per connection, "Connection: close"
		DisableCompression:     true,      // the body as sent, as Python reads it
		MaxResponseHeaderBytes: HeaderCap,
	}
	p.client = &http.Client{
		Transport: p.transport,
		// A redirect is an answer (its status is checked), not a place to go.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

// tlsError marks an error of the TLS handshake: tls_error, whatever it wraps
// (a certificate that did not verify, an alert, the peer hanging up mid-handshake).
type tlsError struct{ err error }

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// certKey passes a place for the certificate's expiry down to dialTLS through the
// request's context, Go's way of handing per-call values down a call chain.
type certKey struct{}

// certSeen is that place. The Transport dials in a goroutine of its own, which may
// finish its handshake after the probe has given up at its deadline: hence the lock.
type certSeen struct {
	mu      sync.Mutex
	expires *float64 // the leaf certificate's notAfter, seconds since the epoch
}

func (c *certSeen) set(notAfter time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seconds := float64(notAfter.Unix())
	c.expires = &seconds
}

func (c *certSeen) get() *float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expires
}

// dialTLS connects and shakes hands under ctx's deadline, and records the leaf
// certificate's notAfter as soon as the handshake completes.
func (p *Prober) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	config := p.tls.Clone()
	config.ServerName = host // an IP address is checked against the certificate's IP SANs
	conn := tls.Client(raw, config)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		// A reset or the deadline mid-handshake is reset or timeout, as in Python:
		// the socket says so before TLS does.
		if ctx.Err() != nil || errors.Is(err, syscall.ECONNRESET) {
			return nil, err
		}
		return nil, &tlsError{err}
	}
	if seen, ok := ctx.Value(certKey{}).(*certSeen); ok {
		seen.set(conn.ConnectionState().PeerCertificates[0].NotAfter)
	}
	return conn, nil
}

// Probe asks target its question before ctx's deadline; every failure is a Result.
func (p *Prober) Probe(ctx context.Context, target Target) Result {
	start := time.Now()
	result := Result{Target: target}
	var outcome string
	var status int
	var err error
	if target.SpeaksHTTP() {
		seen := &certSeen{}
		ctx = context.WithValue(ctx, certKey{}, seen)
		outcome, status, err = p.get(ctx, target)
		result.CertExpires = seen.get() // kept whatever came after the handshake, as in Python
	} else {
		outcome, err = dial(ctx, target)
	}
	if err != nil {
		var v verdict
		if !errors.As(err, &v) {
			status = 0 // as in Python: a status is kept for a verdict on the answer, not a failed read
		}
		outcome = OutcomeFor(ctx, err)
		text := errorText(err)
		result.Error = &text
	}
	result.Outcome = outcome
	if status != 0 {
		result.Status = &status
	}
	result.Latency = time.Since(start).Seconds()
	return result
}

// dial is the tcp probe: healthy when a connection is accepted.
func dial(ctx context.Context, target Target) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(target.Host, strconv.Itoa(target.Port)))
	if err != nil {
		return "", err
	}
	conn.Close()
	return "ok", nil
}

// verdict is an answer the checks failed (bad_status, too_large, content_mismatch):
// an error that carries its outcome, as Python's Verdict from the HTTP exchange.
type verdict struct {
	outcome string
	why     string
}

func (v verdict) Error() string { return v.why }

// get is the http(s) probe: GET path, then check status, size and content in the
// order Python's HttpExchange decides them.
func (p *Prober) get(ctx context.Context, target Target) (string, int, error) {
	// In a URL an IPv6 zone's "%" is written "%25" (RFC 6874): [fe80::1%25eth0].
	zoned := strings.Replace(target.Host, "%", "%25", 1)
	host := net.JoinHostPort(zoned, strconv.Itoa(target.Port))
	if target.Port == defaultPorts[target.Kind] {
		host = urlHost(zoned) // Host names the port only where the scheme does not imply it
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.Kind+"://"+host+"/", nil)
	if err != nil {
		return "", 0, err
	}
	// The path goes on the request line exactly as the hosts file has it (Opaque is
	// net/url's way to say "send this as is"), as Python's h11 sends it.
	req.URL.Opaque = target.Path
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	resp, err := p.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	status := resp.StatusCode
	if status != target.Expect {
		return "", status, verdict{"bad_status", fmt.Sprintf("status %d, expected %d", status, target.Expect)}
	}
	if resp.ContentLength > BodyCap {
		return "", status, verdict{"too_large", fmt.Sprintf("Content-Length %d exceeds %d bytes", resp.ContentLength, BodyCap)}
	}
	// io.LimitReader is Go's way to read "up to": one byte past the cap is enough to
	// know the body is too large, and the rest is never read.
	body, err := io.ReadAll(io.LimitReader(resp.Body, BodyCap+1))
	if err != nil {
		return "", status, err
	}
	if len(body) > BodyCap {
		return "", status, verdict{"too_large", fmt.Sprintf("body exceeds %d bytes", BodyCap)}
	}
	if target.HasText && !bytes.Contains(body, []byte(target.Contains)) {
		return "", status, verdict{"content_mismatch", fmt.Sprintf("body of %d bytes does not contain %q", len(body), target.Contains)}
	}
	return "ok", status, nil
}

// OutcomeFor maps a probe's error to an outcome, as Python's outcome_for: the same
// failure is the same word in every runtime. Errors are matched with errors.Is and
// errors.As, which look through every wrapper (url.Error, net.OpError,
// os.SyscallError) down to the syscall.Errno, as Python matches OSError.errno.
func OutcomeFor(ctx context.Context, err error) string {
	var v verdict
	var dns *net.DNSError
	var tlsErr *tlsError
	var record tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var wrongName x509.HostnameError
	switch {
	case errors.As(err, &v):
		return v.outcome
	// Cancellation is no outcome (timeout would blame the host): "" marks a probe
	// the scan stopped, which reports nothing.
	case errors.Is(ctx.Err(), context.Canceled):
		return ""
	// Past the deadline, whatever call was blocked failed because of it.
	case errors.Is(err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &dns):
		return "dns_error"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETDOWN), errors.Is(err, syscall.EHOSTDOWN):
		return "unreachable"
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &tlsErr), errors.As(err, &record), errors.As(err, &unknownCA),
		errors.As(err, &invalid), errors.As(err, &wrongName):
		return "tls_error"
	}
	// Not HTTP, cut short, a head too large, or a surprise: its text says which.
	return "protocol_error"
}

// errorText is the error without net/http's `Get "http://...": ` prefix: the
// target is in the result already.
func errorText(err error) string {
	var u *url.Error
	if errors.As(err, &u) {
		err = u.Err
	}
	return err.Error()
}
