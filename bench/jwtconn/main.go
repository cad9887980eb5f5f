// jwtconn: how fast a server accepts new connections, each one connecting (with .creds, a
// user/password or nothing), completing a round trip (so the login is done) and closing.
// Built like ../shared/bench's natsbench (GOPATH mode, Debian's nats.go) and printing the same
// "RESULT scenario=... key=value" lines.
//
//	jwtconn -url URL [-creds FILE] -n N -c C -t SECONDS
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
	name    = flag.String("name", "", "scenario label in RESULT")
	url     = flag.String("url", "", "server URL (may carry user:password)")
	creds   = flag.String("creds", "", ".creds file (JWT and seed)")
	total   = flag.Int("n", 20000, "connections to make")
	conc    = flag.Int("c", 8, "connections made at the same time")
	maxSecs = flag.Float64("t", 8, "time cap (s)")
)

func main() {
	flag.Parse()
	opts := []nats.Option{nats.MaxReconnects(0), nats.NoReconnect()}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	// One first connection: the account JWT is loaded before timing starts, on both servers.
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		fmt.Printf("RESULT scenario=%s ok=0 error=%q\n", *name, err.Error())
		os.Exit(1)
	}
	nc.Close()
	deadline := time.Now().Add(time.Duration(*maxSecs * float64(time.Second)))
	var next, failed int64
	lat := make([][]time.Duration, *conc)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= int64(*total) && time.Now().Before(deadline) {
				t0 := time.Now()
				c, err := nats.Connect(*url, opts...)
				if err == nil {
					err = c.Flush()
					c.Close()
				}
				if err != nil {
					atomic.AddInt64(&failed, 1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds())
	}
	ok := 1
	if failed > 0 || len(all) == 0 {
		ok = 0
	}
	fmt.Printf("RESULT scenario=%s ok=%d conns=%d failed=%d conns_per_sec=%.0f p50_us=%.0f p99_us=%.0f\n",
		*name, ok, len(all), failed, float64(len(all))/elapsed.Seconds(), pct(0.5), pct(0.99))
}
