// The probe's outcomes, one table row per way a host can behave, each row run
// through all three pools. httptest.Server is Go's in-process test server (the
// Python tests' fleet, one host at a time); a raw net.Listener plays the hosts that
// do not speak HTTP. No test sleeps: a slow host waits for the client to leave.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// target makes a Target for a server at addr ("127.0.0.1:PORT").
func target(t *testing.T, kind, addr, path string) Target {
	t.Helper()
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	if kind == "tcp" {
		return Target{Kind: kind, Host: host, Port: port}
	}
	return Target{Kind: kind, Host: host, Port: port, Path: path, Expect: 200}
}

// rawServer accepts connections and hands each to serve, in a goroutine; the
// listener is closed when the test ends.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go func() {
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// readRequest reads up to the end of the request head.
func readRequest(conn net.Conn) {
	var head []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		head = append(head, buf[:n]...)
	}
}

func TestProbeOutcomes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "healthy") })
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/announced", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(2*BodyCap)) // announced, never sent
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // headers out first: no Content-Length, the body is counted
		w.Write(make([]byte, 2*BodyCap))
	})
	mux.HandleFunc("/exactly-cap", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, BodyCap)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up: its deadline passed
	})
	server := httptest.NewServer(mux) // no path given: 404 from the mux
	t.Cleanup(server.Close)
	addr := server.Listener.Addr().String()

	tlsServer := httptest.NewTLSServer(mux)
	t.Cleanup(tlsServer.Close)
	tlsAddr := tlsServer.Listener.Addr().String()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsServer.Certificate().Raw}))

	garbage := rawServer(t, func(conn net.Conn) {
		readRequest(conn)
		conn.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
	})
	reset := rawServer(t, func(conn net.Conn) {
		readRequest(conn)
		conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"))
		conn.(*net.TCPConn).SetLinger(0) // close with a RST, not a FIN
	})
	closed := rawServer(t, func(conn net.Conn) { readRequest(conn) }) // hangs up, says nothing
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close() // nobody listens there now: the kernel refuses

	withText := func(tg Target, text string) Target { tg.Contains, tg.HasText = text, true; return tg }
	withExpect := func(tg Target, status int) Target { tg.Expect = status; return tg }
	cases := []struct {
		name    string
		target  Target
		trusted bool // the prober trusts the TLS server's CA
		timeout time.Duration
		outcome string
		status  int
	}{
		{"tcp accepted", target(t, "tcp", addr, ""), false, 0, "ok", 0},
		{"tcp refused", target(t, "tcp", refused, ""), false, 0, "refused", 0},
		{"200", target(t, "http", addr, "/ok"), false, 0, "ok", 200},
		{"200 with the text", withText(target(t, "http", addr, "/ok"), "healthy"), false, 0, "ok", 200},
		{"wrong body", withText(target(t, "http", addr, "/ok"), "welcome"), false, 0, "content_mismatch", 200},
		{"404", target(t, "http", addr, "/missing"), false, 0, "bad_status", 404},
		{"404 expected", withExpect(target(t, "http", addr, "/missing"), 404), false, 0, "ok", 404},
		{"500", target(t, "http", addr, "/500"), false, 0, "bad_status", 500},
		{"redirect not followed", target(t, "http", addr, "/moved"), false, 0, "bad_status", 302},
		{"oversized by Content-Length", target(t, "http", addr, "/announced"), false, 0, "too_large", 200},
		{"oversized, counted", target(t, "http", addr, "/chunked"), false, 0, "too_large", 200},
		{"exactly the cap", target(t, "http", addr, "/exactly-cap"), false, 0, "ok", 200},
		{"slow past the deadline", target(t, "http", addr, "/slow"), false, 200 * time.Millisecond, "timeout", 0},
		{"garbage", target(t, "http", garbage, "/"), false, 0, "protocol_error", 0},
		{"closed without an answer", target(t, "http", closed, "/"), false, 0, "protocol_error", 0},
		{"reset", target(t, "http", reset, "/"), false, 0, "reset", 0},
		{"http refused", target(t, "http", refused, "/"), false, 0, "refused", 0},
		{"https trusted", target(t, "https", tlsAddr, "/ok"), true, 0, "ok", 200},
		{"https untrusted", target(t, "https", tlsAddr, "/ok"), false, 0, "tls_error", 0},
		{"https to a plain server", target(t, "https", addr, "/ok"), false, 0, "tls_error", 0},
	}
	trusting, err := NewProber(caPEM, false)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewProber("", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, timeout := plain, tc.timeout
			if tc.trusted {
				p = trusting
			}
			if timeout == 0 {
				timeout = 10 * time.Second // generous: -race is slow, and no host here is slow but /slow
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r := p.Probe(ctx, tc.target)
			if r.Outcome != tc.outcome {
				t.Fatalf("%s: outcome %q (error %v), want %q", tc.target, r.Outcome, deref(r.Error), tc.outcome)
			}
			status := 0 // no status: the probe got no answer it could judge
			if r.Status != nil {
				status = *r.Status
			}
			if status != tc.status {
				t.Errorf("%s: status %d, want %d", tc.target, status, tc.status)
			}
			if (r.Error == nil) != (tc.outcome == "ok") {
				t.Errorf("%s: error %v with outcome %s", tc.target, deref(r.Error), r.Outcome)
			}
			if tc.trusted && (r.CertExpires == nil || *r.CertExpires < float64(time.Now().Unix())) {
				t.Errorf("%s: cert_expires %v, want the certificate's notAfter", tc.target, r.CertExpires)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// Every pool returns one result per target, in input order, with at most `workers`
// probes in flight.
func TestPoolsKeepInputOrderAndBound(t *testing.T) {
	const workers = 3
	inFlight, most := make(chan int, 100), 0
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight <- 1
		defer func() { inFlight <- -1 }()
		w.WriteHeader(200 + len(r.URL.Path)) // each path its own status: the order shows
	}))
	t.Cleanup(server.Close)
	addr := server.Listener.Addr().String()
	var targets []Target
	for i := 1; i <= 12; i++ {
		tg := target(t, "http", addr, "/"+strings.Repeat("x", i-1))
		tg.Expect = 200 + i
		targets = append(targets, tg)
	}
	p, err := NewProber("", false)
	if err != nil {
		t.Fatal(err)
	}
	for name, scan := range Pools {
		t.Run(name, func(t *testing.T) {
			results := scan(context.Background(), p, targets, workers, 10*time.Second)
			if len(results) != len(targets) {
				t.Fatalf("%d results for %d targets", len(results), len(targets))
			}
			for i, r := range results {
				if r.Target != targets[i] || r.Outcome != "ok" {
					t.Errorf("result %d: %s %s, want %s ok", i, r.Target, r.Outcome, targets[i])
				}
			}
		})
	}
	close(inFlight)
	now := 0
	for d := range inFlight {
		now += d
		if now > most {
			most = now
		}
	}
	if most > workers || most < 1 {
		t.Errorf("%d requests at once, with %d workers", most, workers)
	}
}

// A scan whose context is cancelled gives no outcome to the probes it stopped.
func TestCancelledScanReportsNoOutcome(t *testing.T) {
	p, err := NewProber("", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tg := target(t, "tcp", "127.0.0.1:9", "")
	for name, scan := range Pools {
		for _, r := range scan(ctx, p, []Target{tg, tg}, 1, time.Second) {
			if r.Outcome != "" {
				t.Errorf("%s: a stopped probe reported %q", name, r.Outcome)
			}
		}
	}
}

// The round protocol: one JSON line with Python's keys, outcomes in input order.
func TestRoundPrintsOneLine(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(server.Close)
	addr := server.Listener.Addr().String()
	request := fmt.Sprintf(`{"runtime": "go", "workers": 2, "timeout": 5, "ca_pem": null,
		"targets": ["http://%s/", "http://%s/ expect=404", "tcp://%s"]}`, addr, addr, addr)
	var out bytes.Buffer
	if err := round(strings.NewReader(request), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("not one line: %q", out.String())
	}
	var report map[string]any
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"wall_s", "cpu_s", "peak_memory_bytes"} {
		if v, ok := report[key].(float64); !ok || v < 0 || key == "peak_memory_bytes" && v == 0 {
			t.Errorf("%s = %v", key, report[key])
		}
	}
	if got := fmt.Sprint(report["outcomes"]); got != "[ok bad_status ok]" {
		t.Errorf("outcomes %s", got)
	}
}

// An IPv6 address with a zone (as fe80::1%eth0 needs) reaches the host: net/url wants
// the zone's "%" written "%25", the hosts file does not.
func TestProbeIPv6WithZone(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	server := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}}
	server.Start()
	t.Cleanup(server.Close)
	port := ln.Addr().(*net.TCPAddr).Port
	p, err := NewProber("", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{fmt.Sprintf("http://[::1%%lo]:%d/", port), fmt.Sprintf("tcp://[::1%%lo]:%d", port)} {
		targets, err := ParseTargets(line, "")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r := p.Probe(ctx, targets[0])
		cancel()
		if r.Outcome != "ok" {
			t.Errorf("%s: %s %s", line, r.Outcome, deref(r.Error))
		}
	}
}
