// xacct: a load generator for traffic that crosses accounts (stream and service imports),
// built like ../shared/bench's natsbench (GOPATH mode, Debian's nats.go) and printing the
// same "RESULT scenario=... key=value" lines. The publisher and the subscriber (or requester
// and responder) connect as different users, so each side is in its own account.
//
//	xacct pubsub  -pub URL -sub URL -pubsubj S -subsubj S -n N -size B   one publisher to one subscriber
//	xacct request -req URL -resp URL -reqsubj S -respsubj S -n N -c C     C outstanding requests
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

var (
	name     = flag.String("name", "", "scenario label in RESULT")
	pubURL   = flag.String("pub", "", "publisher (pubsub) URL with credentials")
	subURL   = flag.String("sub", "", "subscriber (pubsub) URL with credentials")
	pubSubj  = flag.String("pubsubj", "bench.ps", "subject the publisher uses")
	subSubj  = flag.String("subsubj", "bench.ps", "subject the subscriber listens on")
	reqURL   = flag.String("req", "", "requester URL")
	respURL  = flag.String("resp", "", "responder URL")
	reqSubj  = flag.String("reqsubj", "svc.bench", "subject requests are sent to")
	respSubj = flag.String("respsubj", "svc.bench", "subject the responder listens on")
	numMsgs  = flag.Int("n", 1000000, "messages / requests")
	msgSize  = flag.Int("size", 16, "payload bytes")
	conc     = flag.Int("c", 16, "outstanding requests")
	maxSecs  = flag.Float64("t", 10, "time cap (s) of the measured phase")
)

func fail(format string, a ...interface{}) {
	fmt.Printf("RESULT scenario=%s ok=0 error=%q\n", *name, fmt.Sprintf(format, a...))
	os.Exit(1)
}

func connect(url, label string) *nats.Conn {
	nc, err := nats.Connect(url, nats.Name("xacct-"+label), nats.MaxReconnects(0))
	if err != nil {
		fail("connect %s: %v", label, err)
	}
	return nc
}

func runPubSub() {
	data := make([]byte, *msgSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	sc := connect(*subURL, "sub")
	defer sc.Close()
	var got int64
	target := int64(1 << 62)
	done := make(chan time.Time, 1)
	var once sync.Once
	sub, err := sc.Subscribe(*subSubj, func(_ *nats.Msg) {
		if atomic.AddInt64(&got, 1) >= atomic.LoadInt64(&target) {
			once.Do(func() { done <- time.Now() })
		}
	})
	if err != nil {
		fail("subscribe: %v", err)
	}
	sub.SetPendingLimits(-1, -1)
	sc.Flush()
	pc := connect(*pubURL, "pub")
	defer pc.Close()
	pc.Flush()
	// Interest through an import: wait until one message makes it.
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadInt64(&got) == 0 {
		pc.Publish(*pubSubj, data)
		pc.Flush()
		if time.Now().After(deadline) {
			fail("nothing arrives on %s from %s", *subSubj, *pubSubj)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	base := atomic.LoadInt64(&got)
	start := time.Now()
	cap := start.Add(time.Duration(*maxSecs * float64(time.Second)))
	sent := 0
	for sent < *numMsgs {
		pc.Publish(*pubSubj, data)
		sent++
		if sent%4096 == 0 && time.Now().After(cap) {
			break
		}
	}
	pc.Flush()
	atomic.StoreInt64(&target, base+int64(sent))
	if atomic.LoadInt64(&got) >= base+int64(sent) {
		once.Do(func() { done <- time.Now() })
	}
	var end time.Time
	select {
	case end = <-done:
	case <-time.After(30 * time.Second):
		fail("only %d of %d delivered", atomic.LoadInt64(&got)-base, sent)
	}
	secs := end.Sub(start).Seconds()
	fmt.Printf("RESULT scenario=%s ok=1 msgs=%d size=%d secs=%.2f msgs_per_sec=%.0f mb_per_sec=%.2f\n",
		*name, sent, *msgSize, secs, float64(sent)/secs, float64(sent*(*msgSize))/secs/1e6)
}

func runRequest() {
	rc := connect(*respURL, "resp")
	defer rc.Close()
	reply := []byte("ok")
	rs, err := rc.Subscribe(*respSubj, func(m *nats.Msg) { m.Respond(reply) })
	if err != nil {
		fail("subscribe: %v", err)
	}
	rs.SetPendingLimits(-1, -1)
	rc.Flush()
	qc := connect(*reqURL, "req")
	defer qc.Close()
	data := make([]byte, *msgSize)
	if _, err := qc.Request(*reqSubj, data, 5*time.Second); err != nil {
		fail("first request: %v", err)
	}
	var done int64
	lat := make([][]time.Duration, *conc)
	start := time.Now()
	cap := start.Add(time.Duration(*maxSecs * float64(time.Second)))
	var wg sync.WaitGroup
	var failed int64
	for w := 0; w < *conc; w++ {
		w := w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&done, 1) <= int64(*numMsgs) && time.Now().Before(cap) {
				t0 := time.Now()
				if _, err := qc.Request(*reqSubj, data, 5*time.Second); err != nil {
					atomic.AddInt64(&failed, 1)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if failed > 0 || len(all) == 0 {
		fail("%d requests failed", failed)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	fmt.Printf("RESULT scenario=%s ok=1 msgs=%d secs=%.2f msgs_per_sec=%.0f p50_us=%.0f p99_us=%.0f\n",
		*name, len(all), secs, float64(len(all))/secs, pct(0.5), pct(0.99))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: xacct pubsub|request [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	if *name == "" {
		*name = mode
	}
	switch mode {
	case "pubsub":
		runPubSub()
	case "request":
		runRequest()
	default:
		fail("unknown mode %s", mode)
	}
}
