// The hosts file: what each line means, what String() writes back, and the one-line
// error a bad line gets. The same cases as the Python tests of parse_targets.

package main

import (
	"strings"
	"testing"
)

func TestParseTargets(t *testing.T) {
	http := func(host string, port int, path string) Target {
		return Target{Kind: "http", Host: host, Port: port, Path: path, Expect: 200}
	}
	cases := []struct {
		line string
		want Target
		back string // what String() writes: the line in its canonical form
	}{
		{"tcp://db:5432", Target{Kind: "tcp", Host: "db", Port: 5432}, "tcp://db:5432"},
		{"TCP://[::1]:22", Target{Kind: "tcp", Host: "::1", Port: 22}, "tcp://[::1]:22"},
		{"http://10.0.0.7", http("10.0.0.7", 80, "/"), "http://10.0.0.7:80/"},
		{"http://h:8080/healthz expect=204", Target{Kind: "http", Host: "h", Port: 8080, Path: "/healthz", Expect: 204}, "http://h:8080/healthz expect=204"},
		{"http://h?x=1", http("h", 80, "/?x=1"), "http://h:80/?x=1"},
		{"https://api.example.com/", Target{Kind: "https", Host: "api.example.com", Port: 443, Path: "/", Expect: 200}, "https://api.example.com:443/"},
		{"  http://h:1/ contains=Welcome   # a comment", Target{Kind: "http", Host: "h", Port: 1, Path: "/", Expect: 200, Contains: "Welcome", HasText: true}, "http://h:1/ contains=Welcome"},
		{`http://[fe80::1%eth0]:8080/ contains="say \"hi\" # not a comment"`, Target{Kind: "http", Host: "fe80::1%eth0", Port: 8080, Path: "/", Expect: 200, Contains: `say "hi" # not a comment`, HasText: true}, `http://[fe80::1%eth0]:8080/ contains="say \"hi\" # not a comment"`},
		{`http://h:1/ contains="a\tb\nc\\ \x00 \u00e9 \U0001F600"`, Target{Kind: "http", Host: "h", Port: 1, Path: "/", Expect: 200, Contains: "a\tb\nc\\ \x00 é 😀", HasText: true}, `http://h:1/ contains="a\tb\nc\\ \x00 é 😀"`},
		{`http://h:1/ contains=""`, Target{Kind: "http", Host: "h", Port: 1, Path: "/", Expect: 200, HasText: true}, `http://h:1/ contains=""`},
	}
	for _, tc := range cases {
		targets, err := ParseTargets(tc.line, "")
		if err != nil || len(targets) != 1 {
			t.Errorf("%q: %v, %v", tc.line, targets, err)
			continue
		}
		if targets[0] != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.line, targets[0], tc.want)
		}
		if got := targets[0].String(); got != tc.back {
			t.Errorf("%q: String() %q, want %q", tc.line, got, tc.back)
		}
		again, err := ParseTargets(targets[0].String(), "")
		if err != nil || len(again) != 1 || again[0] != targets[0] {
			t.Errorf("%q does not read back: %v %v", tc.back, again, err)
		}
	}
}

func TestParseTargetsSkipsBlankLinesAndComments(t *testing.T) {
	targets, err := ParseTargets("# fleet\n\n  \r\ntcp://a:1\r\n   # more\ntcp://b:2 # trailing\n", "")
	if err != nil || len(targets) != 2 || targets[0].Host != "a" || targets[1].Host != "b" {
		t.Fatalf("%v %v", targets, err)
	}
}

func TestParseTargetsErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"tcp://h:1\nftp://h", `hosts.txt:2: unknown scheme "ftp://"`},
		{"h:80", "hosts.txt:1: expected a target like"},
		{"tcp://h", "tcp target needs a port"},
		{"tcp://h:1/x", "tcp targets have no path"},
		{"tcp://h:70000", "port 70000 is out of range"},
		{"tcp://h:0", "port 0 is out of range"},
		{"tcp://h:x", `port "x" is not a number`},
		{"tcp://::1:22", "an IPv6 address goes in brackets"},
		{"tcp://[::1:22", "missing ']'"},
		{"tcp://[nope]:1", `"nope" is not an IPv6 address`},
		{"tcp://h_ost!:1", "may hold only"},
		{"tcp://h:1 expect=200", "expect= applies only to http and https targets, not tcp"},
		{"http://h/ expect=abc", "is not a number"},
		{"http://h/ expect=700", "expect=700 is not an HTTP status"},
		{"http://h/ timeout=3", `unknown option "timeout"`},
		{"http://h/ expect=200 expect=201", "duplicate option expect="},
		{"http://h/ loose", `expected NAME=VALUE after the URL, not "loose"`},
		{`http://h/ contains="open`, "missing the closing quote"},
		{`http://h/ contains="a"b`, `unexpected "b" after the closing quote`},
		{`http://h/ contains=a"b`, "a quote inside contains="},
		{`http://h/ contains="\q"`, `unknown escape \q`},
		{`http://h/ contains="\x4"`, `bad escape \x4"`},
		{`http://h/ contains="\U00110000"`, "not a Unicode character"},
		{`http://h/ contains="\ud800"`, "not valid Unicode text"},
		{"icmp://h", "icmp:// needs raw sockets"},
	}
	for _, tc := range cases {
		_, err := ParseTargets(tc.text, "hosts.txt")
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line with %q", tc.text, err, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for text, want := range map[string]string{
		"Welcome":    "Welcome",
		"":           `""`,
		"two words":  `"two words"`,
		"#tag":       `"#tag"`,
		"\x7f\u200b": `"\x7f\u200b"`,
	} {
		if got := Quote(text); got != want {
			t.Errorf("Quote(%q) = %s, want %s", text, got, want)
		}
	}
}
