// Builds hey for the HTTP API load run (hack/bench-http.sh).
module redis-operator/hack/tools/hey

go 1.26.0

require github.com/rakyll/hey v0.1.5

require (
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/text v0.33.0 // indirect
)
