// What to probe: a Target, and the hosts file that lists them.
//
// The grammar is the Python package's (patterns.probe.targets), line for line: one
// target per line, a URL (tcp://host:port, http://host:port/path, https://...) and
// then options, expect=STATUS and contains=TEXT, where TEXT is a bare word or a
// double-quoted string with backslash escapes. Blank lines and # comments are
// skipped. A Python reader will recognise the bufio.Scanner loop of every Go tool
// in place of `for number, line in enumerate(text.split("\n"))`.

package main

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Target is one host to probe, as Python's frozen dataclass Target: a comparable
// struct, so (like a hashable Python value) it can key a map.
type Target struct {
	Kind     string // "tcp", "http" or "https" (icmp needs raw sockets: not here)
	Host     string // a name, an IPv4 address, or an IPv6 address without brackets
	Port     int
	Path     string // http(s) only: "/" by default
	Expect   int    // http(s) only: 200 by default
	Contains string // http(s) only: text the body must contain, if HasText
	HasText  bool   // Go has no None: HasText says Contains was given ("" is a value)
}

// SpeaksHTTP is true for http and https targets: the probe sends GET.
func (t Target) SpeaksHTTP() bool { return t.Kind == "http" || t.Kind == "https" }

// String is the target's hosts-file line, as Python's str(target): parsing it gives
// the same Target back.
func (t Target) String() string {
	url := t.Kind + "://" + urlHost(t.Host) + ":" + strconv.Itoa(t.Port)
	if !t.SpeaksHTTP() {
		return url
	}
	words := []string{url + t.Path}
	if t.Expect != 200 {
		words = append(words, "expect="+strconv.Itoa(t.Expect))
	}
	if t.HasText {
		words = append(words, "contains="+Quote(t.Contains))
	}
	return strings.Join(words, " ")
}

// TargetError is a bad line: Error() is one line, "line 3: port 70000 is out of
// range (1-65535)", or "hosts.txt:3: ..." when the file's name is known.
type TargetError struct {
	Source string
	Line   int
	Reason string
}

func (e *TargetError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// reason is the error a line's parser returns; ParseTargets adds where it was.
type reason string

func (r reason) Error() string { return string(r) }

func failf(format string, args ...any) error { return reason(fmt.Sprintf(format, args...)) }

var defaultPorts = map[string]int{"http": 80, "https": 443}

var (
	hostname  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	ipv6Chars = regexp.MustCompile(`^[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?$`)
	pathChars = regexp.MustCompile(`^/[\x21\x22\x24-\x7e]*$`) // visible ASCII, no "#"
)

// ParseTargets reads a hosts file into targets, in file order. The first bad line
// is a *TargetError naming its line number (and source, if not empty).
func ParseTargets(text, source string) ([]Target, error) {
	var targets []Target
	// Lines end at "\n" only; a "\r" before it is whitespace like any other.
	for i, line := range strings.Split(text, "\n") {
		target, ok, err := parseLine(line)
		if err != nil {
			return nil, &TargetError{Source: source, Line: i + 1, Reason: err.Error()}
		}
		if ok {
			targets = append(targets, target)
		}
	}
	return targets, nil
}

// parseLine returns ok=false for a blank or comment-only line.
func parseLine(line string) (Target, bool, error) {
	if !utf8.ValidString(line) {
		return Target{}, false, failf("not UTF-8 text")
	}
	s := &scanner{line: []rune(line)}
	url, ok := s.word()
	if !ok {
		return Target{}, false, nil
	}
	t, hasPath, err := parseURL(url)
	if err != nil {
		return Target{}, false, err
	}
	seen := map[string]bool{}
	for {
		name, value, ok, err := s.option()
		if err != nil {
			return Target{}, false, err
		}
		if !ok {
			break
		}
		if name != "expect" && name != "contains" {
			return Target{}, false, failf("unknown option %q (options are expect= and contains=)", name)
		}
		if seen[name] {
			return Target{}, false, failf("duplicate option %s=", name)
		}
		seen[name] = true
		if !t.SpeaksHTTP() {
			return Target{}, false, failf("%s= applies only to http and https targets, not %s", name, t.Kind)
		}
		if name == "contains" {
			t.Contains, t.HasText = value, true
			continue
		}
		if value == "" || strings.Trim(value, "0123456789") != "" {
			return Target{}, false, failf("expect=%q is not a number (an HTTP status, 100-599)", value)
		}
		t.Expect, _ = strconv.Atoi(value)
		if t.Expect < 100 || t.Expect > 599 {
			return Target{}, false, failf("expect=%s is not an HTTP status (100-599)", value)
		}
	}
	if t.SpeaksHTTP() {
		// The defaults are filled in, so "http://h" and "http://h:80/" are one Target.
		if !hasPath {
			t.Path = "/"
		}
		if t.Expect == 0 {
			t.Expect = 200
		}
		if !pathChars.MatchString(t.Path) {
			return Target{}, false, failf("path %q must start with '/' and hold only visible ASCII, no spaces or '#' (percent-encode the rest)", t.Path)
		}
	}
	return t, true, nil
}

// parseURL splits scheme://authority/path?query as Python's urllib.parse.urlsplit
// does, and reads the host and port from the authority.
func parseURL(url string) (t Target, hasPath bool, err error) {
	scheme, rest, found := strings.Cut(url, "://")
	if !found {
		return t, false, failf("expected a target like tcp://host:port, http://host:port/path or https://host/path, not %q", url)
	}
	t.Kind = strings.ToLower(scheme)
	if t.Kind == "icmp" {
		return t, false, failf("icmp:// needs raw sockets: the Go reference probes tcp, http and https only")
	}
	if t.Kind != "tcp" && !t.SpeaksHTTP() {
		return t, false, failf("unknown scheme %q (use tcp://, http:// or https://)", scheme+"://")
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if strings.HasPrefix(path, "?") {
		path = "/" + path // "http://h?x" asks for "/?x", as Python reads it
	}
	hasPath = path != ""
	host, portText, hasPort, err := hostAndPort(authority, t.Kind)
	if err != nil {
		return t, false, err
	}
	if err := checkHost(host); err != nil {
		return t, false, err
	}
	t.Host, t.Path = host, path
	if hasPort {
		if portText == "" || strings.Trim(portText, "0123456789") != "" {
			return t, false, failf("port %q is not a number", portText)
		}
		port, err := strconv.Atoi(portText)
		if err != nil || port < 1 || port > 65535 {
			return t, false, failf("port %s is out of range (1-65535)", portText)
		}
		t.Port = port
	}
	if t.Kind == "tcp" {
		if hasPath {
			return t, false, failf("tcp targets have no path: tcp://%s:PORT", urlHost(host))
		}
		if !hasPort {
			return t, false, failf("tcp target needs a port: tcp://%s:PORT", urlHost(host))
		}
	} else if !hasPort {
		t.Port = defaultPorts[t.Kind]
	}
	return t, hasPath, nil
}

// hostAndPort reads "host", "host:port", "[v6]" or "[v6]:port".
func hostAndPort(authority, kind string) (host, port string, hasPort bool, err error) {
	if strings.HasPrefix(authority, "[") {
		host, after, found := strings.Cut(authority[1:], "]")
		if !found {
			return "", "", false, failf("missing ']' after the IPv6 address in %q", authority)
		}
		if after != "" && !strings.HasPrefix(after, ":") {
			return "", "", false, failf("unexpected %q after [%s]", after, host)
		}
		if host == "" {
			return "", "", false, failf("empty host")
		}
		if err := checkIPv6(host); err != nil {
			return "", "", false, err
		}
		if after == "" {
			return host, "", false, nil
		}
		return host, after[1:], true, nil
	}
	if strings.Count(authority, ":") > 1 {
		return "", "", false, failf("%q has more than one ':': an IPv6 address goes in brackets, as in %s://[::1]:8080", authority, kind)
	}
	host, port, hasPort = strings.Cut(authority, ":")
	if host == "" {
		return "", "", false, failf("empty host")
	}
	return host, port, hasPort, nil
}

func checkHost(host string) error {
	if strings.Contains(host, ":") {
		return checkIPv6(host)
	}
	if !hostname.MatchString(host) {
		return failf("host %q may hold only A-Z a-z 0-9 . - _ (write an international name in its xn-- form)", host)
	}
	return nil
}

func checkIPv6(host string) error {
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Is6() {
		return failf("%q is not an IPv6 address", host)
	}
	if !ipv6Chars.MatchString(host) {
		return failf("IPv6 zone in %q may hold only A-Z a-z 0-9 . - _", host)
	}
	return nil
}

func urlHost(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// isSpace is Python's str.isspace, which also counts \x1c-\x1f (Go's does not).
func isSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// scanner splits one line into the URL and name=value options, honouring quotes.
type scanner struct {
	line []rune
	pos  int
}

// skipSpace skips whitespace; false at the end of the line or at a comment.
func (s *scanner) skipSpace() bool {
	for s.pos < len(s.line) && isSpace(s.line[s.pos]) {
		s.pos++
	}
	return s.pos < len(s.line) && s.line[s.pos] != '#'
}

func (s *scanner) bare() string {
	start := s.pos
	for s.pos < len(s.line) && !isSpace(s.line[s.pos]) && s.line[s.pos] != '#' {
		s.pos++
	}
	return string(s.line[start:s.pos])
}

func (s *scanner) word() (string, bool) {
	if !s.skipSpace() {
		return "", false
	}
	return s.bare(), true
}

func (s *scanner) option() (name, value string, ok bool, err error) {
	if !s.skipSpace() {
		return "", "", false, nil
	}
	start := s.pos
	word := s.bare()
	name, value, equals := strings.Cut(word, "=")
	if !equals {
		return "", "", false, failf("expected NAME=VALUE after the URL, not %q", word)
	}
	if name == "" {
		return "", "", false, failf("option %q has no name", "="+value)
	}
	s.pos = start + utf8.RuneCountInString(name) + 1 // just after the "="
	if s.pos < len(s.line) && s.line[s.pos] == '"' {
		value, err = s.quoted(name)
		return name, value, err == nil, err
	}
	value = s.bare()
	if strings.Contains(value, `"`) {
		return "", "", false, failf(`a quote inside %s=%s: quote the whole value, as in %s="..."`, name, value, name)
	}
	return name, value, true, nil
}

var simpleEscapes = map[rune]rune{'\\': '\\', '"': '"', 'n': '\n', 'r': '\r', 't': '\t'}
var hexEscapes = map[rune]int{'x': 2, 'u': 4, 'U': 8} // escape letter -> hex digits

func (s *scanner) quoted(name string) (string, error) {
	var out strings.Builder
	s.pos++ // the opening quote
	for {
		if s.pos >= len(s.line) {
			return "", failf(`%s="...: missing the closing quote`, name)
		}
		c := s.line[s.pos]
		s.pos++
		if c == '"' {
			break
		}
		if c != '\\' {
			out.WriteRune(c)
			continue
		}
		var escape rune
		if s.pos < len(s.line) {
			escape = s.line[s.pos]
			s.pos++
		}
		if r, ok := simpleEscapes[escape]; ok {
			out.WriteRune(r)
		} else if n, ok := hexEscapes[escape]; ok {
			end := s.pos + n
			if end > len(s.line) {
				end = len(s.line)
			}
			digits := string(s.line[s.pos:end])
			s.pos = end
			code, err := strconv.ParseUint(digits, 16, 32)
			if len(digits) < n || err != nil || strings.ContainsAny(digits, "+-_") {
				return "", failf(`bad escape \%c%s in %s=: needs %d hex digits`, escape, digits, name, n)
			}
			if code > unicode.MaxRune {
				return "", failf(`bad escape \%c%s in %s=: not a Unicode character`, escape, digits, name)
			}
			if code >= 0xD800 && code <= 0xDFFF { // a lone surrogate: no UTF-8 for it
				return "", failf(`contains=%s is not valid Unicode text`, `"\`+string(escape)+digits+`"`)
			}
			out.WriteRune(rune(code))
		} else {
			return "", failf(`unknown escape \%c in %s= (use \" \\ \n \r \t \xHH \uHHHH \UHHHHHHHH)`, escape, name)
		}
	}
	if s.pos < len(s.line) && !isSpace(s.line[s.pos]) && s.line[s.pos] != '#' {
		rest := strings.Fields(string(s.line[s.pos:]))[0]
		return "", failf("unexpected %q after the closing quote of %s=", rest, name)
	}
	return out.String(), nil
}

// Quote is the hosts-file form of a contains value: the word itself, or a quoted
// string with escapes, as Python's patterns.probe.targets.quote.
func Quote(text string) string {
	word := text != ""
	for _, c := range text {
		if !unicode.IsPrint(c) || c == ' ' || strings.ContainsRune(`"\#`, c) {
			word = false
			break
		}
	}
	if word {
		return text
	}
	var out strings.Builder
	out.WriteByte('"')
	for _, c := range text {
		switch {
		case c == '"' || c == '\\':
			out.WriteRune('\\')
			out.WriteRune(c)
		case c == '\n':
			out.WriteString(`\n`)
		case c == '\r':
			out.WriteString(`\r`)
		case c == '\t':
			out.WriteString(`\t`)
		case unicode.IsPrint(c): // Go's IsPrint, as Python's isprintable, keeps ' '
			out.WriteRune(c)
		case c <= 0xFF:
			fmt.Fprintf(&out, `\x%02x`, c)
		case c <= 0xFFFF:
			fmt.Fprintf(&out, `\u%04x`, c)
		default:
			fmt.Fprintf(&out, `\U%08x`, c)
		}
	}
	out.WriteByte('"')
	return out.String()
}
