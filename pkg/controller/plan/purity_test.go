package plan

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The decision is pure because it cannot be otherwise: nothing it imports reaches the API
// server, a lister, Redis or the network. (net/http comes in only through apimachinery's API
// types, which import it for error helpers; no package of ours imports it.)
func TestDecisionImportsNoClientListerOrNetwork(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, ".").Output()
	require.NoError(t, err)
	forbidden := []string{"k8s.io/client-go/", "github.com/redis/go-redis/", "redis-operator/pkg/generated/"}
	ours := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := fields[0]
		for _, prefix := range forbidden {
			require.False(t, strings.HasPrefix(pkg, prefix), "the decision depends on %s", pkg)
		}
		require.NotEqual(t, "redis-operator/pkg/redisops", pkg, "the decision depends on the Redis client")
		if strings.HasPrefix(pkg, "redis-operator/") {
			ours[pkg] = true
			for _, imp := range fields[1:] {
				switch imp {
				case "net", "net/http", "os", "os/exec", "crypto/rand", "math/rand", "math/rand/v2":
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
	require.True(t, ours["redis-operator/pkg/controller/objects"] && ours["redis-operator/pkg/redisops/topology"],
		"the listing covers what the decision builds on: %v", ours)
}
