// The scan: probe every target, at most `workers` at a time, each probe under its
// own deadline, and return the results in input order.
//
// The same pool three ways, as Python's three runtimes write one WorkerPool three
// ways; every one writes result i into slot i of a slice made up front, which is
// how Go keeps input order without sorting (each goroutine owns its slot, so no
// lock is needed).
//
//   - ScanChannels: the worker pool. N goroutines range over one channel of jobs;
//     closing the channel is "no more work", and a WaitGroup waits for the workers.
//   - ScanErrgroup: x/sync/errgroup with SetLimit(n): g.Go blocks while n are
//     running, so the loop that starts the probes is the queue.
//   - ScanSemaphore: x/sync/semaphore.Weighted bounds the probes in flight: a
//     goroutine per target, each waiting for a unit of the semaphore first.
package main

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Scan is the signature the three pools share.
type Scan func(ctx context.Context, p *Prober, targets []Target, workers int, timeout time.Duration) []Result

// Pools names the three, for the -pool flag and the round's "pool" key.
var Pools = map[string]Scan{
	"channels":  ScanChannels,
	"errgroup":  ScanErrgroup,
	"semaphore": ScanSemaphore,
}

// probeOne is one job: the probe under a deadline of its own, started when a worker
// takes the job (time spent queued is not the host's).
func probeOne(ctx context.Context, p *Prober, target Target, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return p.Probe(ctx, target)
}

// ScanChannels is the worker pool: a channel of jobs (target indexes) and `workers`
// goroutines taking jobs from it until it is closed.
func ScanChannels(ctx context.Context, p *Prober, targets []Target, workers int, timeout time.Duration) []Result {
	results := make([]Result, len(targets))
	jobs := make(chan int) // unbuffered: a job is handed over only to a free worker
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs { // ends when jobs is closed and drained
				results[i] = probeOne(ctx, p, targets[i], timeout)
			}
		}()
	}
	for i := range targets {
		jobs <- i // blocks until a worker is free: FIFO, in input order
	}
	close(jobs)
	wg.Wait()
	return results
}

// ScanErrgroup is the same pool on errgroup.Group: SetLimit(workers) makes Go block
// until a slot is free. A probe never fails (a failure is a Result), so the group's
// first-error cancellation is unused here; Wait is the WaitGroup.
func ScanErrgroup(ctx context.Context, p *Prober, targets []Target, workers int, timeout time.Duration) []Result {
	results := make([]Result, len(targets))
	var g errgroup.Group
	g.SetLimit(workers)
	for i, target := range targets {
		i, target := i, target // Go 1.19: each goroutine needs its own copy of the loop variables
		g.Go(func() error {
			results[i] = probeOne(ctx, p, target, timeout)
			return nil
		})
	}
	_ = g.Wait() // always nil: see above
	return results
}

// ScanSemaphore bounds the probes in flight with a weighted semaphore of `workers`
// units, each probe holding one. Acquire is FIFO, so probes start in input order.
func ScanSemaphore(ctx context.Context, p *Prober, targets []Target, workers int, timeout time.Duration) []Result {
	results := make([]Result, len(targets))
	sem := semaphore.NewWeighted(int64(workers))
	var wg sync.WaitGroup
	for i, target := range targets {
		// Acquire before starting the goroutine, so at most `workers` exist at once.
		if err := sem.Acquire(ctx, 1); err != nil {
			break // the scan's ctx is done: probe nothing more
		}
		wg.Add(1)
		go func(i int, target Target) {
			defer wg.Done()
			defer sem.Release(1)
			results[i] = probeOne(ctx, p, target, timeout)
		}(i, target)
	}
	wg.Wait()
	return results
}
