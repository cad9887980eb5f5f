// clusterbench: load across two servers of a cluster (or a hub and its leaf node), built on
// the official Go client like ../shared/bench's natsbench (GOPATH mode, Debian's nats.go):
// publishers on one server, subscribers or responders on the other, so every message crosses a
// route (or leaf connection). Neither server measures itself.
//
//	clusterbench pubsub -pub nats://A -sub nats://B -n 1000000 -size 16 -subs 1
//	clusterbench queue  -pub nats://A -sub nats://B,nats://A -subs 4   (members alternate B, A)
//	clusterbench req    -pub nats://A -sub nats://B -n 20000 -c 1|16
//
// Prints one line: RESULT mode=.. msgs=.. delivered=.. lost=.. secs=.. msgs_per_sec=.. [p50_us p99_us]
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

var (
	pubURL  = flag.String("pub", "nats://127.0.0.1:4222", "server the publishers/requesters use")
	subURLs = flag.String("sub", "nats://127.0.0.1:4223", "server(s) the subscribers/responders use, comma separated (taken in turn)")
	n       = flag.Int("n", 1000000, "messages or requests")
	size    = flag.Int("size", 16, "payload bytes")
	subs    = flag.Int("subs", 1, "subscribers (pubsub: each gets every message; queue: members of one group)")
	conc    = flag.Int("c", 1, "outstanding requests (req)")
	maxSecs = flag.Float64("t", 8, "time cap of the sending phase (seconds)")
)

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "clusterbench: "+format+"\n", a...)
	os.Exit(1)
}

func conn(url, name string) *nats.Conn {
	nc, err := nats.Connect(url, nats.Name(name), nats.DontRandomize(), nats.Timeout(10*time.Second))
	if err != nil {
		die("connect %s: %v", url, err)
	}
	return nc
}

// waitInterest: the publisher's server must know the subscribers' interest before timing starts.
func waitInterest(pc *nats.Conn, subConns []*nats.Conn) {
	for i, sc := range subConns {
		subj := fmt.Sprintf("clusterbench.probe.%d", i)
		s, _ := sc.Subscribe(subj, func(m *nats.Msg) { m.Respond(nil) })
		sc.Flush()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := pc.Request(subj, nil, 500*time.Millisecond); err == nil {
				break
			}
			if time.Now().After(deadline) {
				die("interest did not reach the publisher's server")
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.Unsubscribe()
	}
}

func pubSub(queue bool) {
	urls := strings.Split(*subURLs, ",")
	data := make([]byte, *size)
	var total int64
	subConns := make([]*nats.Conn, *subs)
	for i := 0; i < *subs; i++ {
		sc := conn(urls[i%len(urls)], fmt.Sprintf("sub%d", i))
		subConns[i] = sc
		cb := func(m *nats.Msg) { atomic.AddInt64(&total, 1) }
		var s *nats.Subscription
		var err error
		if queue {
			s, err = sc.QueueSubscribe("clusterbench.ps", "q", cb)
		} else {
			s, err = sc.Subscribe("clusterbench.ps", cb)
		}
		if err != nil {
			die("subscribe: %v", err)
		}
		s.SetPendingLimits(-1, -1)
		sc.Flush()
	}
	pc := conn(*pubURL, "pub")
	waitInterest(pc, subConns)
	end := time.Now().Add(time.Duration(*maxSecs * float64(time.Second)))
	start := time.Now()
	sent := 0
	for sent < *n {
		if err := pc.Publish("clusterbench.ps", data); err != nil {
			die("publish: %v", err)
		}
		sent++
		if sent&1023 == 0 && time.Now().After(end) {
			break
		}
	}
	pc.FlushTimeout(60 * time.Second)
	expected := int64(sent)
	if !queue {
		expected *= int64(*subs)
	}
	last, lastProg := atomic.LoadInt64(&total), time.Now()
	for {
		cur := atomic.LoadInt64(&total)
		if cur >= expected || time.Since(lastProg) > 2*time.Second {
			break
		}
		if cur != last {
			last, lastProg = cur, time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start).Seconds()
	if atomic.LoadInt64(&total) < expected {
		el -= 2 // the quiet period that ended the wait
	}
	got := atomic.LoadInt64(&total)
	fmt.Printf("RESULT mode=%s msgs=%d delivered=%d lost=%d secs=%.3f msgs_per_sec=%.0f\n",
		map[bool]string{true: "queue", false: "pubsub"}[queue], sent, got, expected-got, el, float64(got)/el)
	pc.Close()
	for _, c := range subConns {
		c.Close()
	}
}

func req() {
	urls := strings.Split(*subURLs, ",")
	rc := conn(urls[0], "responder")
	rc.Subscribe("clusterbench.req", func(m *nats.Msg) { m.Respond(m.Data) })
	rc.Flush()
	pc := conn(*pubURL, "requester")
	waitInterest(pc, []*nats.Conn{rc})
	data := make([]byte, *size)
	lat := make([]time.Duration, 0, *n)
	var mu sync.Mutex
	var next int64
	end := time.Now().Add(time.Duration(*maxSecs * float64(time.Second)))
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= int64(*n) && time.Now().Before(end) {
				t0 := time.Now()
				if _, err := pc.Request("clusterbench.req", data, 5*time.Second); err != nil {
					die("request: %v", err)
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	fmt.Printf("RESULT mode=req c=%d msgs=%d secs=%.3f msgs_per_sec=%.0f p50_us=%.0f p99_us=%.0f\n", *conc, len(lat), el, float64(len(lat))/el, pct(0.5), pct(0.99))
	pc.Close()
	rc.Close()
}

func main() {
	if len(os.Args) < 2 {
		die("usage: clusterbench pubsub|queue|req [flags]")
	}
	mode := os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	switch mode {
	case "pubsub":
		pubSub(false)
	case "queue":
		pubSub(true)
	case "req":
		req()
	default:
		die("unknown mode %q", mode)
	}
}
