package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are set at build time (make build: -ldflags "-X main.version=... -X
// main.revision=..."). Without them a build reports the module's version ("(devel)") and the
// commit the Go toolchain stamped, when it stamped one (not with -buildvcs=false).
var version, revision = "", ""

// buildInfo is what the binary knows of its build: version, the commit it was built from
// (with "-dirty" for uncommitted changes) and the Go version.
type buildInfo struct {
	Version, Revision, GoVersion string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		if b.Revision == "" {
			b.Revision = vcsRevision(info)
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// vcsRevision is the commit the Go toolchain stamped, with "-dirty" for uncommitted changes.
func vcsRevision(info *debug.BuildInfo) string {
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

func (b buildInfo) String() string {
	return fmt.Sprintf("redis-operator %s (revision %s, %s)", b.Version, b.Revision, b.GoVersion)
}

// register exports redis_operator_build_info{version,revision,goversion} 1, so dashboards can
// tell which build runs.
func (b buildInfo) register(reg prometheus.Registerer) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redis_operator_build_info", Help: "The running operator's build: version, source revision and Go version.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg.MustRegister(g)
}
