module pprofgate/bench/go-metrics-server

go 1.19
