package chart

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// grant is one permission: a verb on a resource (with subresource) of an API group.
type grant struct{ group, resource, verb string }

func (g grant) String() string {
	if g.group == "" {
		return g.resource + ":" + g.verb
	}
	return g.group + "/" + g.resource + ":" + g.verb
}

// grants flattens policy rules; resourceNames restrictions are kept apart by the caller.
func grants(rules []rbacv1.PolicyRule) map[grant]bool {
	set := map[grant]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					set[grant{g, res, v}] = true
				}
			}
		}
	}
	return set
}

func sortedGrants(set map[grant]bool) []string {
	var s []string
	for g := range set {
		s = append(s, g.String())
	}
	return sorted(s)
}

// operatorRules are the rules of the role granting the operator its work (not the Lease role).
func operatorRules(t *testing.T, objs objects) (kind string, rules []rbacv1.PolicyRule) {
	t.Helper()
	for _, o := range append(objs.ofKind("ClusterRole"), objs.ofKind("Role")...) {
		if strings.HasSuffix(o.Name, "-leader-election") || strings.HasSuffix(o.Name, "-nodes") {
			continue
		}
		var role rbacv1.ClusterRole // Role and ClusterRole share the rules field
		o.decode(t, &role)
		if kind != "" {
			t.Fatalf("two operator roles: %s and %s", kind, o)
		}
		kind, rules = o.Kind, role.Rules
	}
	if kind == "" {
		t.Fatal("no operator role rendered")
	}
	return kind, rules
}

// nodesGrants are the grants of the ClusterRole a one-namespace install gets for nodes alone.
func nodesGrants(t *testing.T, objs objects) map[grant]bool {
	t.Helper()
	for _, o := range objs.ofKind("ClusterRole") {
		if strings.HasSuffix(o.Name, "-nodes") {
			var role rbacv1.ClusterRole
			o.decode(t, &role)
			return grants(role.Rules)
		}
	}
	return nil
}

func leaderRole(t *testing.T, objs objects) rbacv1.Role {
	t.Helper()
	for _, o := range objs.ofKind("Role") {
		if strings.HasSuffix(o.Name, "-leader-election") {
			var role rbacv1.Role
			o.decode(t, &role)
			return role
		}
	}
	t.Fatal("no leader election Role rendered")
	return rbacv1.Role{}
}

func TestRBACHasNoWildcard(t *testing.T) {
	for _, set := range []string{"redisOperator.replicaCount=2", "redisOperator.watchNamespace=cache"} {
		objs := render(t, renderOptions{set: []string{set}})
		for _, o := range append(objs.ofKind("ClusterRole"), objs.ofKind("Role")...) {
			var role rbacv1.ClusterRole
			o.decode(t, &role)
			for _, r := range role.Rules {
				for _, s := range slices.Concat(r.APIGroups, r.Resources, r.Verbs, r.ResourceNames, r.NonResourceURLs) {
					if strings.Contains(s, "*") {
						t.Errorf("%s (%s): rule %+v holds a wildcard", o, set, r)
					}
				}
			}
		}
	}
}

// allowedBeyondSource are grants the operator needs although no call in its source names them:
// its children (and the backups' Jobs) carry ownerReferences with blockOwnerDeletion, which the
// OwnerReferencesPermissionEnforcement admission plugin allows only with update on the owner's
// finalizers.
var allowedBeyondSource = map[grant]bool{
	{"redis.redis", "redisclusters/finalizers", "update"}:       true,
	{"redis.redis", "redisclusterbackups/finalizers", "update"}: true, // owner of the shards' Jobs
}

// TestRBACMatchesOperatorSource checks that the chart grants exactly what the operator's source
// calls: every API call found in pkg/ and cmd/redis-operator is allowed, and nothing else is.
func TestRBACMatchesOperatorSource(t *testing.T) {
	needed, leader := apiCallsInSource(t)
	if len(needed) < 5 {
		t.Fatalf("found only %v in the operator source; the scan is broken", sortedGrants(needed))
	}
	for _, tc := range []struct{ name, set, kind string }{
		{"all namespaces", "redisOperator.watchNamespace=", "ClusterRole"},
		{"one namespace", "redisOperator.watchNamespace=cache", "Role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, renderOptions{set: []string{tc.set}})
			kind, rules := operatorRules(t, objs)
			if kind != tc.kind {
				t.Errorf("operator role is a %s, want %s", kind, tc.kind)
			}
			for _, r := range rules {
				if len(r.ResourceNames) > 0 {
					t.Errorf("operator rule %+v is limited to names: the operator works on any cluster's objects", r)
				}
			}
			granted := grants(rules)
			for g := range nodesGrants(t, objs) {
				granted[g] = true
			}
			for g := range needed {
				if !granted[g] {
					t.Errorf("the operator calls %s but the %s does not allow it", g, kind)
				}
			}
			for g := range granted {
				if !needed[g] && !allowedBeyondSource[g] {
					t.Errorf("the %s grants %s, which the operator never uses", kind, g)
				}
			}
			if t.Failed() {
				t.Logf("operator source needs: %v", sortedGrants(needed))
				t.Logf("%s grants:          %v", kind, sortedGrants(granted))
			}

			role := leaderRole(t, objs)
			if role.Namespace != "ops" {
				t.Errorf("leader election Role is in %q, want the release namespace ops", role.Namespace)
			}
			leaseName := objs.one(t, "Lease").Name
			leaderGrants := map[grant]bool{}
			for _, r := range role.Rules {
				for g := range grants([]rbacv1.PolicyRule{r}) {
					// get and update can be limited to the Lease; create cannot.
					if g.resource == "leases" && g.verb != "create" && !slices.Equal(r.ResourceNames, []string{leaseName}) {
						t.Errorf("leader election rule %+v is not limited to Lease %s", r, leaseName)
					}
					leaderGrants[g] = true
				}
			}
			for g := range leader {
				if !leaderGrants[g] {
					t.Errorf("leader election needs %s but the Role does not allow it", g)
				}
			}
			for g := range leaderGrants {
				if !leader[g] {
					t.Errorf("the leader election Role grants %s, which leader election never uses", g)
				}
			}
		})
	}
}

func TestRBACBindsTheOperatorServiceAccount(t *testing.T) {
	objs := render(t, renderOptions{})
	sa := objs.one(t, "ServiceAccount")
	if got := deployment(t, objs).Spec.Template.Spec.ServiceAccountName; got != sa.Name {
		t.Fatalf("Deployment runs as %q, the chart's ServiceAccount is %q", got, sa.Name)
	}
	roles := map[string]bool{}
	for _, o := range append(objs.ofKind("ClusterRole"), objs.ofKind("Role")...) {
		roles[o.Kind+"/"+o.Namespace+"/"+o.Name] = true
	}
	for _, o := range append(objs.ofKind("ClusterRoleBinding"), objs.ofKind("RoleBinding")...) {
		var b rbacv1.RoleBinding
		o.decode(t, &b)
		if !roles[b.RoleRef.Kind+"/"+b.Namespace+"/"+b.RoleRef.Name] {
			t.Errorf("%s refers to %s %s, which the chart does not render", o, b.RoleRef.Kind, b.RoleRef.Name)
		}
		if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sa.Name || b.Subjects[0].Namespace != "ops" {
			t.Errorf("%s binds %+v, want only ServiceAccount ops/%s", o, b.Subjects, sa.Name)
		}
	}

	off := render(t, renderOptions{set: []string{"rbac.create=false"}})
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		if n := len(off.ofKind(kind)); n != 0 {
			t.Errorf("rbac.create=false still renders %d %s", n, kind)
		}
	}
	if _, err := renderErr(t, renderOptions{set: []string{"serviceAccount.create=false"}}); err == nil ||
		!strings.Contains(err.Error(), "serviceAccount.name is required") {
		t.Errorf("serviceAccount.create=false without a name: got %v, want an error asking for serviceAccount.name", err)
	}
}

// Go client names of the resources the operator touches, and their API group.
var clientResources = map[string]grant{
	"Pods":                   {"", "pods", ""},
	"Services":               {"", "services", ""},
	"ConfigMaps":             {"", "configmaps", ""},
	"PersistentVolumeClaims": {"", "persistentvolumeclaims", ""},
	"Secrets":                {"", "secrets", ""},
	"Events":                 {"", "events", ""},
	"Nodes":                  {"", "nodes", ""},
	"PodDisruptionBudgets":   {"policy", "poddisruptionbudgets", ""},
	"Leases":                 {"coordination.k8s.io", "leases", ""},
	"RedisClusters":          {"redis.redis", "redisclusters", ""},
	"RedisClusterBackups":    {"redis.redis", "redisclusterbackups", ""},
	"Jobs":                   {"batch", "jobs", ""},
}

// Typed client methods and the verb each sends; Status variants write the status subresource.
var clientVerbs = map[string]string{
	"Create": "create", "Get": "get", "List": "list", "Watch": "watch", "Update": "update",
	"UpdateStatus": "update", "Delete": "delete", "DeleteCollection": "deletecollection",
	"Patch": "patch", "Apply": "patch", "ApplyStatus": "patch",
}

var (
	groupVersionClient = regexp.MustCompile(`^[A-Z][A-Za-z]*V[0-9]+((alpha|beta)[0-9]+)?$`) // CoreV1(), RedisV1beta1()
	informerVersion    = regexp.MustCompile(`^V[0-9]+((alpha|beta)[0-9]+)?$`)               // Core().V1()
)

// calledName is the method name of a call expression like x.Name(...), or "".
func calledName(e ast.Expr) string {
	if call, ok := e.(*ast.CallExpr); ok {
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			return sel.Sel.Name
		}
	}
	return ""
}

// apiCallsInSource scans the operator's Go source (pkg/ without generated code, and
// cmd/redis-operator) for Kubernetes API use: typed client calls (directly chained, or through a
// variable holding the resource client), shared informers (list and watch), the event sink
// (create and patch) and the leader election LeaseLock (get, create, update). It returns the
// grants of the operator's work and those of leader election apart.
func apiCallsInSource(t *testing.T) (work, leader map[grant]bool) {
	t.Helper()
	work, leader = map[grant]bool{}, map[grant]bool{}
	var files []string
	for _, dir := range []string{"pkg", filepath.Join("cmd", "redis-operator")} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "generated" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fset := token.NewFileSet()
	for _, path := range files {
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		// resourceClient returns the resource of a typed resource client expression such as
		// kubeClient.CoreV1().Pods(ns), or a variable assigned one in this file.
		vars := map[string]grant{}
		resourceClient := func(e ast.Expr) (grant, bool) {
			if id, ok := e.(*ast.Ident); ok {
				g, ok := vars[id.Name]
				return g, ok
			}
			call, ok := e.(*ast.CallExpr)
			if !ok {
				return grant{}, false
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return grant{}, false
			}
			g, ok := clientResources[sel.Sel.Name]
			return g, ok && groupVersionClient.MatchString(calledName(sel.X))
		}
		receivers := map[ast.Expr]bool{} // resource clients that are called or kept in a variable
		ast.Inspect(file, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
				for i, rhs := range as.Rhs {
					if g, ok := resourceClient(rhs); ok {
						if id, ok := as.Lhs[i].(*ast.Ident); ok {
							vars[id.Name] = g
							receivers[rhs] = true
						}
					}
				}
			}
			return true
		})
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "LeaseLock" {
					for _, v := range []string{"get", "create", "update"} {
						leader[grant{"coordination.k8s.io", "leases", v}] = true
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if g, ok := resourceClient(sel.X); ok {
					verb, known := clientVerbs[sel.Sel.Name]
					if !known {
						t.Errorf("%s: %s.%s: unknown client method", fset.Position(n.Pos()), g.resource, sel.Sel.Name)
						return true
					}
					if strings.HasSuffix(sel.Sel.Name, "Status") {
						g.resource += "/status"
					}
					g.verb = verb
					work[g] = true
					receivers[sel.X] = true
					return true
				}
				// Shared informers: factory.Core().V1().Pods() lists and watches.
				if g, ok := clientResources[sel.Sel.Name]; ok && len(n.Args) == 0 && informerVersion.MatchString(calledName(sel.X)) {
					for _, v := range []string{"list", "watch"} {
						work[grant{g.group, g.resource, v}] = true
					}
				}
			}
			return true
		})
		// A resource client handed over rather than called: only the event sink is expected.
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || receivers[call] {
				return true
			}
			g, ok := resourceClient(call)
			if !ok {
				return true
			}
			if g.resource != "events" {
				t.Errorf("%s: a %s client is passed on; the test cannot tell its verbs", fset.Position(call.Pos()), g.resource)
				return true
			}
			// record.EventSinkImpl: the recorder creates events and patches repeated ones, for the
			// operator's work and for leader election (events on the Lease).
			for _, v := range []string{"create", "patch"} {
				work[grant{"", "events", v}] = true
				leader[grant{"", "events", v}] = true
			}
			return true
		})
	}
	return work, leader
}
