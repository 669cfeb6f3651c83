// A minimal Go net/http server that serves a fixed /metrics body, as the
// baseline for bench/metrics_bench.sh. Standard library only.
//
// Usage: go-metrics-server -listen 127.0.0.1:9091 -body metrics.txt
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9091", "host:port to listen on")
	bodyFile := flag.String("body", "", "file whose bytes /metrics serves")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		h.Set("Content-Length", length)
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
