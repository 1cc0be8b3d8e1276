// Command probe is the Go reference for Python's patterns.probe: the same hosts
// file, the same probe (TCP connect, HTTP GET, the same over TLS) with the same
// eleven outcomes, and the same worker pool, written with goroutines, channels and
// golang.org/x/sync. Three modes:
//
//	probe round                 one round of `compare`: a JSON request on stdin, one JSON line out
//	probe scan --targets FILE   scan a hosts file, print the results as JSON
//	probe spawn N               what a parked goroutine costs, in time and memory
//	probe targets FILE          the hosts file as this binary reads it: one line per target
//
// Exit codes as Python's CLI: 0 all healthy, 1 some unhealthy, 2 bad usage or
// input (one line on stderr), 130 interrupted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage("probe: name a mode: round, scan, spawn or targets")
	}
	var err error
	switch mode, args := os.Args[1], os.Args[2:]; mode {
	case "round":
		err = round(os.Stdin, os.Stdout)
	case "scan":
		err = scan(args)
	case "spawn":
		err = spawn(args)
	case "targets":
		err = listTargets(args)
	default:
		usage(fmt.Sprintf("probe: unknown mode %q (use round, scan, spawn or targets)", mode))
	}
	var exit exitCode
	if errors.As(err, &exit) {
		os.Exit(int(exit))
	}
	if err != nil {
		usage("probe: " + err.Error())
	}
}

// exitCode is an error that only sets the exit status (1: some unhealthy, 130).
type exitCode int

func (e exitCode) Error() string { return "exit " + strconv.Itoa(int(e)) }

func usage(line string) {
	fmt.Fprintln(os.Stderr, line)
	os.Exit(2)
}

// roundRequest is what `compare` sends a round: Python's round protocol
// (patterns.probe.compare.round). "runtime" is read by Python rounds to pick one;
// this binary is the "go" runtime whatever it says. "pool" is ours (default
// "channels").
type roundRequest struct {
	Runtime string   `json:"runtime"`
	Workers int      `json:"workers"`
	Timeout float64  `json:"timeout"` // seconds
	Targets []string `json:"targets"` // hosts-file lines
	CaPEM   *string  `json:"ca_pem"`
	Pool    string   `json:"pool"`
}

// roundReport is the one line a round prints, with the keys a Python round prints.
type roundReport struct {
	WallS           float64  `json:"wall_s"`
	CPUS            float64  `json:"cpu_s"`
	PeakMemoryBytes int64    `json:"peak_memory_bytes"`
	Outcomes        []string `json:"outcomes"`
}

// round reads one request, scans, and prints one JSON line: wall_s (the scan
// alone), cpu_s (the process's CPU time over the same span) and peak_memory_bytes.
func round(in io.Reader, out io.Writer) error {
	var req roundRequest
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		return fmt.Errorf("round: the request is not JSON: %v", err)
	}
	if req.Workers < 1 || req.Timeout <= 0 {
		return fmt.Errorf("round: workers must be at least 1 and timeout above 0")
	}
	scanWith, err := pool(req.Pool)
	if err != nil {
		return err
	}
	targets, err := ParseTargets(joinLines(req.Targets), "targets")
	if err != nil {
		return err
	}
	caPEM := ""
	if req.CaPEM != nil {
		caPEM = *req.CaPEM
	}
	prober, err := NewProber(caPEM, false) // the trust store is built here, off the scan's clock
	if err != nil {
		return err
	}
	timeout := time.Duration(req.Timeout * float64(time.Second))
	cpuBefore, started := cpuSeconds(), time.Now()
	results := scanWith(context.Background(), prober, targets, req.Workers, timeout)
	wall, cpu := time.Since(started).Seconds(), cpuSeconds()-cpuBefore
	report := roundReport{WallS: wall, CPUS: cpu, PeakMemoryBytes: peakMemory(), Outcomes: []string{}}
	for _, r := range results {
		report.Outcomes = append(report.Outcomes, r.Outcome)
	}
	return json.NewEncoder(out).Encode(report) // one line, ending in "\n"
}

func joinLines(lines []string) string {
	text := ""
	for _, line := range lines {
		text += line + "\n"
	}
	return text
}

func pool(name string) (Scan, error) {
	if name == "" {
		name = "channels"
	}
	scan, ok := Pools[name]
	if !ok {
		return nil, fmt.Errorf("unknown pool %q (use channels, errgroup or semaphore)", name)
	}
	return scan, nil
}

// record is one result as Python's patterns.probe.cli.formats.record() writes it,
// field for field and in that order.
type record struct {
	Target      string   `json:"target"`
	Outcome     string   `json:"outcome"`
	Status      *int     `json:"status"`
	Latency     float64  `json:"latency"`
	Error       *string  `json:"error"`
	Runtime     string   `json:"runtime"`
	CertExpires *float64 `json:"cert_expires"`
}

// duration reads a Go duration ("1.5s", "250ms") or a bare number of seconds, as
// every seconds flag of the Python CLI does.
type duration struct{ time.Duration }

func (d *duration) String() string { return d.Duration.String() }
func (d *duration) Set(text string) error {
	if seconds, err := strconv.ParseFloat(text, 64); err == nil {
		d.Duration = time.Duration(seconds * float64(time.Second))
	} else if d.Duration, err = time.ParseDuration(text); err != nil {
		return fmt.Errorf("%q is not a duration (1.5s, 250ms, 2m, or seconds)", text)
	}
	if d.Duration <= 0 {
		return fmt.Errorf("%q: a timeout must be above zero", text)
	}
	return nil
}

// scan is `probe scan --targets FILE --workers N --timeout 1s`: the results as JSON.
func scan(args []string) error {
	flags := flag.NewFlagSet("scan", flag.ContinueOnError)
	flags.SetOutput(io.Discard) // our one line, not flag's usage text
	file := flags.String("targets", "hosts.txt", "the hosts file")
	workers := flags.Int("workers", 20, "probes at a time")
	timeout := duration{time.Second}
	flags.Var(&timeout, "timeout", "each probe's deadline")
	ca := flags.String("ca", "", "a PEM bundle of CAs to trust too")
	insecure := flags.Bool("insecure", false, "skip certificate verification")
	poolName := flags.String("pool", "channels", "channels, errgroup or semaphore")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Println("usage: probe scan --targets FILE --workers N --timeout 1s [--ca FILE] [--insecure] [--pool channels|errgroup|semaphore]")
		return nil
	} else if err != nil {
		return fmt.Errorf("scan: %v", err)
	}
	if *workers < 1 {
		return fmt.Errorf("scan: --workers must be at least 1")
	}
	scanWith, err := pool(*poolName)
	if err != nil {
		return err
	}
	text, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("%s: cannot read: %v", *file, errors.Unwrap(err))
	}
	targets, err := ParseTargets(string(text), *file)
	if err != nil {
		return err
	}
	caPEM := ""
	if *ca != "" {
		data, err := os.ReadFile(*ca)
		if err != nil {
			return fmt.Errorf("%s: cannot read: %v", *ca, errors.Unwrap(err))
		}
		caPEM = string(data)
	}
	prober, err := NewProber(caPEM, *insecure)
	if err != nil {
		return fmt.Errorf("%s: %v", *ca, err)
	}
	// Ctrl-C or SIGTERM cancels ctx: probes in flight stop, and the results of
	// those that finished are printed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "scanning %d targets with %d workers (go, %s pool)\n", len(targets), *workers, *poolName)
	records, healthy := []record{}, true
	for _, r := range scanWith(ctx, prober, targets, *workers, timeout.Duration) {
		if r.Outcome == "" {
			continue // stopped by the interrupt: no outcome would be honest
		}
		healthy = healthy && r.Outcome == "ok"
		records = append(records, record{r.Target.String(), r.Outcome, r.Status, r.Latency, r.Error, "go", r.CertExpires})
	}
	text, _ = json.MarshalIndent(records, "", "  ")
	fmt.Println(string(text))
	switch {
	case ctx.Err() != nil:
		return exitCode(130)
	case !healthy:
		return exitCode(1)
	}
	return nil
}

// spawn is `probe spawn N`: start N goroutines parked on one channel, and report
// what each cost: nanoseconds to start (until it runs), nanoseconds of its whole life
// (started, parked, released, ended; the memory readings left out), and bytes of
// memory (the runtime's own counts, MemStats.Sys and StackInuse, and the resident set).
func spawn(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("spawn: give the number of goroutines, as in: probe spawn 10000")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("spawn: %q is not a positive number", args[0])
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rssBefore := residentMemory()
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			started.Done()
			<-release // parked: a receive on a channel nobody sends on, until close
		}()
	}
	started.Wait()
	elapsed := time.Since(t0)
	runtime.ReadMemStats(&after)
	rssAfter := residentMemory()
	released := time.Now()
	close(release) // wakes them all: a closed channel answers every receive
	done.Wait()
	lifetime := elapsed + time.Since(released)
	report := map[string]any{
		"goroutines":                n,
		"ns_per_goroutine":          float64(elapsed.Nanoseconds()) / float64(n),
		"lifetime_ns_per_goroutine": float64(lifetime.Nanoseconds()) / float64(n),
		"bytes_per_goroutine":       float64(after.Sys-before.Sys) / float64(n),
		"stack_bytes_per_goroutine": float64(after.StackInuse-before.StackInuse) / float64(n),
		"rss_bytes_per_goroutine":   float64(rssAfter-rssBefore) / float64(n),
	}
	line, _ := json.Marshal(report)
	fmt.Println(string(line))
	return nil
}

// listTargets is `probe targets FILE`: each target's canonical line (String()), so a
// test can check that Go reads a hosts file as Python's parse_targets does.
func listTargets(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("targets: give the hosts file, as in: probe targets hosts.txt")
	}
	text, err := os.ReadFile(args[0])
	if err != nil {
		return fmt.Errorf("%s: cannot read: %v", args[0], errors.Unwrap(err))
	}
	targets, err := ParseTargets(string(text), args[0])
	if err != nil {
		return err
	}
	for _, t := range targets {
		fmt.Println(t)
	}
	return nil
}
