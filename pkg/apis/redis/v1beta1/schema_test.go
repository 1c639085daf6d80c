package v1beta1_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apivalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// crdSchema runs a manifest through the same steps the API server applies to a custom resource:
// structural defaulting, OpenAPI validation and the CEL rules, all from the shipped CRD file.
type crdSchema struct {
	structural *structuralschema.Structural
	openAPI    apivalidation.SchemaValidator
	cel        *cel.Validator
}

func loadCRDSchema(t *testing.T) *crdSchema {
	return loadCRDSchemaOf(t, "redis.redis_redisclusters.yaml")
}

// loadCRDSchemaOf loads the schema of the chart's CRD file.
func loadCRDSchemaOf(t *testing.T, file string) *crdSchema {
	t.Helper()
	raw, err := os.ReadFile(crdFile(file))
	require.NoError(t, err)

	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.Unmarshal(raw, &crd))
	require.Len(t, crd.Spec.Versions, 1)

	var props apiextensions.JSONSchemaProps
	require.NoError(t, apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
		crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &props, nil))
	structural, err := structuralschema.NewStructural(&props)
	require.NoError(t, err)
	openAPI, _, err := apivalidation.NewSchemaValidator(&props)
	require.NoError(t, err)
	return &crdSchema{
		structural: structural,
		openAPI:    openAPI,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}
}

func (s *crdSchema) validate(t *testing.T, manifest string) []string {
	t.Helper()
	obj := decodeManifest(t, manifest)
	structuraldefaulting.Default(obj, s.structural)

	errs := apivalidation.ValidateCustomResource(nil, obj, s.openAPI)
	celErrs, _ := s.cel.Validate(context.Background(), nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	errs = append(errs, celErrs...)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return msgs
}

func crdFile(name string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "../../../../charts/redis-operator/crds", name)
}

// decodeManifest decodes like the API server does, integers as int64 rather than float64.
func decodeManifest(t *testing.T, manifest string) map[string]interface{} {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(manifest))
	require.NoError(t, err)
	obj := map[string]interface{}{}
	require.NoError(t, utiljson.Unmarshal(raw, &obj))
	return obj
}

// seedManifest is the RedisCluster of examples/rediscluster.yaml, the seed manifest.
var seedManifest = func() string {
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "../../../../examples/rediscluster.yaml"))
	if err != nil {
		panic(err)
	}
	docs := strings.Split(string(raw), "\n---\n")
	return docs[len(docs)-1]
}()

func TestSeedManifestIsAccepted(t *testing.T) {
	s := loadCRDSchema(t)
	require.Empty(t, s.validate(t, seedManifest))
}

func TestOriginalOptionalFieldsAreAccepted(t *testing.T) {
	s := loadCRDSchema(t)
	manifest := seedManifest + `
  tag: "7.0.15"
  imagePullPolicy: IfNotPresent
  imagePullSecrets: [{name: regcred}]
  securityContext: {runAsUser: 999, fsGroup: 999}
  nodeSelector: {disk: ssd}
  tolerations: [{key: dedicated, operator: Equal, value: redis, effect: NoSchedule}]
  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: disk, operator: In, values: [ssd]}]}]}}}
  persistence: {enabled: true, storageClass: fast, size: 10Gi}
  exporter: {enabled: true, image: oliver006/redis_exporter, tag: v1.62.0, resources: {limits: {cpu: 100m}}}
  passwordSecret: {name: redis-auth, key: password}
  config: {maxmemory-policy: allkeys-lru, lazyfree-lazy-eviction: "yes"}
  clusterNodeTimeout: 3000
  minMasters: 3
  maxMasters: 8
  scaleCooldown: 10m
`
	require.Empty(t, s.validate(t, manifest))
}

func TestMissingReplicasDefaultsToOne(t *testing.T) {
	s := loadCRDSchema(t)
	obj := decodeManifest(t, strings.Replace(seedManifest, "  replicas: 1\n", "", 1))
	structuraldefaulting.Default(obj, s.structural)
	spec := obj["spec"].(map[string]interface{})
	require.EqualValues(t, 1, spec["replicas"])
	require.EqualValues(t, 5000, spec["clusterNodeTimeout"])
}

func TestInvalidManifestsNameTheField(t *testing.T) {
	s := loadCRDSchema(t)
	cases := []struct {
		name, from, to, field string
	}{
		{"masters 0", "masters: 3", "masters: 0", "spec.masters"},
		{"masters -1", "masters: 3", "masters: -1", "spec.masters"},
		{"replicas -1", "replicas: 1", "replicas: -1", "spec.replicas"},
		{"basePort 0", "basePort: 10000", "basePort: 0", "spec.basePort"},
		{"basePort 70000", "basePort: 10000", "basePort: 70000", "spec.basePort"},
		{"basePort without room for exporter ports", "basePort: 10000", "basePort: 45531", "spec.basePort"},
		{"maxMemory lots", "maxMemory: 512mb", "maxMemory: lots", "spec.maxMemory"},
		{"maxMemory with a space", "maxMemory: 512mb", "maxMemory: 512 mb", "spec.maxMemory"},
		{"empty image", "image: awbrg789/redis:latest", `image: ""`, "spec.image"},
		{"managed config directive", "maxMemory: 512mb", "maxMemory: 512mb\n  config: {port: \"6379\"}", "spec.config"},
		{"minMasters above maxMasters", "maxMemory: 512mb", "maxMemory: 512mb\n  minMasters: 6\n  maxMasters: 4", "spec.minMasters"},
		{"maxMasters without room for ports", "basePort: 10000", "basePort: 45000\n  maxMasters: 400", "spec.maxMasters"},
		{"unknown pull policy", "maxMemory: 512mb", "maxMemory: 512mb\n  imagePullPolicy: Sometimes", "spec.imagePullPolicy"},
		{"tls authClients unquoted", "maxMemory: 512mb", "maxMemory: 512mb\n  tls: {secretName: certs, authClients: yes}", "spec.tls.authClients"},
		{"tls authClients unknown", "maxMemory: 512mb", "maxMemory: 512mb\n  tls: {secretName: certs, authClients: \"always\"}", "spec.tls.authClients"},
		{"user named default", "maxMemory: 512mb", "maxMemory: 512mb\n  users: [{name: default, rules: [\"+@all\"], passwordSecret: {name: p, key: k}}]", "spec.users[0].name"},
		{"user named redis-exporter", "maxMemory: 512mb", "maxMemory: 512mb\n  users: [{name: redis-exporter, rules: [\"+@all\"], passwordSecret: {name: p, key: k}}]", "spec.users[0].name"},
		{"user with a password rule", "maxMemory: 512mb", "maxMemory: 512mb\n  users: [{name: app, rules: [\"+@all\", \">secret\"], passwordSecret: {name: p, key: k}}]", "spec.users[0].rules"},
		{"user with nopass", "maxMemory: 512mb", "maxMemory: 512mb\n  users: [{name: app, rules: [\"NoPass\"], passwordSecret: {name: p, key: k}}]", "spec.users[0].rules"},
		{"user with two rules in one item", "maxMemory: 512mb", "maxMemory: 512mb\n  users: [{name: app, rules: [\"~app:* +@all\"], passwordSecret: {name: p, key: k}}]", "spec.users[0].rules"},
		{"user without a password secret", "maxMemory: 512mb", "maxMemory: 512mb\n  users: [{name: app, rules: [\"+@all\"]}]", "spec.users[0].passwordSecret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			manifest := strings.Replace(seedManifest, tc.from, tc.to, 1)
			require.NotEqual(t, seedManifest, manifest, "the case must change the manifest")
			msgs := s.validate(t, manifest)
			require.NotEmpty(t, msgs, "manifest should be refused")
			require.Contains(t, strings.Join(msgs, "\n"), tc.field)
		})
	}
}

func TestMemorySizesRedisAccepts(t *testing.T) {
	s := loadCRDSchema(t)
	for _, size := range []string{"100000", "512mb", "1gb", "2g", "64MB", "1024k", "0", "10b"} {
		manifest := strings.Replace(seedManifest, "maxMemory: 512mb", "maxMemory: \""+size+"\"", 1)
		require.Empty(t, s.validate(t, manifest), size)
	}
}

// TestNameLongerThanDerivedObjectsAllowIsRefused: the longest name is the one whose exporter
// Service, <name>-exporter, is still a DNS-1035 label of at most 63 characters; a longer name
// would be stored and then create no Service, so the API server refuses it and says the limit.
func TestNameLongerThanDerivedObjectsAllowIsRefused(t *testing.T) {
	s := loadCRDSchema(t)
	withName := func(name string) string {
		manifest := strings.Replace(seedManifest, "name: rediscluster1", "name: "+name, 1)
		require.NotEqual(t, seedManifest, manifest, "the manifest must carry the name")
		return manifest
	}

	longest := "r" + strings.Repeat("x", 53)
	require.Empty(t, s.validate(t, withName(longest)), "a name of %d characters is accepted", len(longest))

	msgs := s.validate(t, withName(longest+"x"))
	require.NotEmpty(t, msgs, "a name of %d characters is refused", len(longest)+1)
	msg := strings.Join(msgs, "\n")
	require.Contains(t, msg, "metadata.name")
	require.Contains(t, msg, "at most 54 characters")
}

// TestNameThatIsNoDNSLabelIsRefused: the exporter Service is named after the cluster, and a
// Service name is a DNS-1035 label, which the API server's own name check for custom resources
// does not demand.
func TestNameThatIsNoDNSLabelIsRefused(t *testing.T) {
	s := loadCRDSchema(t)
	for _, name := range []string{"1cache", "cache.eu", "-cache", "cache-"} {
		manifest := strings.Replace(seedManifest, "name: rediscluster1", "name: "+name, 1)
		msg := strings.Join(s.validate(t, manifest), "\n")
		require.Contains(t, msg, "metadata.name", name)
		require.Contains(t, msg, "DNS-1035", name)
	}
	for _, name := range []string{"cache", "c", "cache-1", "a1-b2"} {
		manifest := strings.Replace(seedManifest, "name: rediscluster1", "name: "+name, 1)
		require.Empty(t, s.validate(t, manifest), name)
	}
}

// validateUpdate validates manifest as an update of old, transition rules included.
func (s *crdSchema) validateUpdate(t *testing.T, old, manifest string) []string {
	t.Helper()
	oldObj, obj := decodeManifest(t, old), decodeManifest(t, manifest)
	structuraldefaulting.Default(oldObj, s.structural)
	structuraldefaulting.Default(obj, s.structural)
	errs, _ := s.cel.Validate(context.Background(), nil, s.structural, obj, oldObj, celconfig.RuntimeCELCostBudget)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return msgs
}

// TestBasePortIsImmutable: every node listens on basePort+N; changed on a running cluster it
// would make every node look unreachable.
func TestBasePortIsImmutable(t *testing.T) {
	s := loadCRDSchema(t)
	moved := strings.Replace(seedManifest, "basePort: 10000", "basePort: 12000", 1)
	msg := strings.Join(s.validateUpdate(t, seedManifest, moved), "\n")
	require.Contains(t, msg, "spec.basePort")
	require.Contains(t, msg, "immutable")
	require.Empty(t, s.validateUpdate(t, seedManifest, strings.Replace(seedManifest, "masters: 3", "masters: 4", 1)))
}

// TestConfigRefusesDirectivesThatBreakTheOperator: directives the operator manages or relies on,
// in any letter case, names that are no plain directive, and values with a newline.
func TestConfigRefusesDirectivesThatBreakTheOperator(t *testing.T) {
	s := loadCRDSchema(t)
	withConfig := func(config string) string {
		return strings.Replace(seedManifest, "maxMemory: 512mb", "maxMemory: 512mb\n  config: "+config, 1)
	}
	for _, bad := range []string{
		`{port: "1"}`, `{PORT: "1"}`, `{Bind: "0.0.0.0"}`, `{dir: /tmp}`, `{save: ""}`, `{appendonly: "no"}`,
		`{include: /etc/x.conf}`, `{rename-command: "CONFIG x"}`, `{cluster-enabled: "no"}`, `{cluster-require-full-coverage: "no"}`,
		`{tls-port: "1"}`, `{daemonize: "yes"}`, `{requirepass: x}`, `{masterauth: x}`, `{replicaof: "a 1"}`,
		`{"maxmemory policy": x}`, `{"x\ny": "1"}`, `{maxmemory-policy: "allkeys-lru\nport 1"}`,
	} {
		msg := strings.Join(s.validate(t, withConfig(bad)), "\n")
		require.Contains(t, msg, "spec.config", bad)
	}
	require.Empty(t, s.validate(t, withConfig(`{maxmemory-policy: allkeys-lru, lazyfree-lazy-eviction: "yes", hz: "20"}`)))
}

// TestCRDPassesTheAPIServersDefinitionChecks runs the shipped CRD through the checks the API
// server makes when the CRD is created, the CEL rules' estimated cost among them.
func TestCRDPassesTheAPIServersDefinitionChecks(t *testing.T) {
	for _, file := range []string{"redis.redis_redisclusters.yaml", "redis.redis_redisclusterbackups.yaml"} {
		t.Run(file, func(t *testing.T) { checkCRDDefinition(t, file) })
	}
}

func checkCRDDefinition(t *testing.T, file string) {
	raw, err := os.ReadFile(crdFile(file))
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.Unmarshal(raw, &crd))
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&crd)
	var internal apiextensions.CustomResourceDefinition
	require.NoError(t, apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&crd, &internal, nil))
	errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), &internal)
	require.Empty(t, errs.ToAggregate())
}

// TestTLSIsSetAtCreation: nodes of one cluster bus cannot speak TLS and plain at once, nor trust
// two CAs they were not given: TLS is neither turned on nor off, and its Secret not swapped, by
// an update.
func TestTLSIsAcceptedAndChangesLive(t *testing.T) {
	s := loadCRDSchema(t)
	withTLS := func(secret string) string {
		return strings.Replace(seedManifest, "maxMemory: 512mb", "maxMemory: 512mb\n  tls: {secretName: "+secret+"}", 1)
	}
	require.Empty(t, s.validate(t, withTLS("certs")))
	obj := decodeManifest(t, withTLS("certs"))
	structuraldefaulting.Default(obj, s.structural)
	require.Equal(t, "yes", obj["spec"].(map[string]interface{})["tls"].(map[string]interface{})["authClients"])

	require.Empty(t, s.validateUpdate(t, seedManifest, withTLS("certs")), "turned on live")
	require.Empty(t, s.validateUpdate(t, withTLS("certs"), seedManifest), "turned off live")
	require.Empty(t, s.validateUpdate(t, withTLS("certs"), strings.Replace(withTLS("certs"), "masters: 3", "masters: 4", 1)))
	require.Empty(t, s.validateUpdate(t, withTLS("certs"), withTLS("other-certs")), "another Secret comes in by steps")
	operators := strings.Replace(seedManifest, "maxMemory: 512mb", "maxMemory: 512mb\n  tls: {}", 1)
	require.Empty(t, s.validate(t, operators), "without a Secret the operator makes the certificate")
	require.Empty(t, s.validateUpdate(t, operators, withTLS("certs")), "a user's Secret taking over")
}

func TestUsersWithSelectorsAreAccepted(t *testing.T) {
	s := loadCRDSchema(t)
	manifest := strings.Replace(seedManifest, "maxMemory: 512mb", "maxMemory: 512mb\n  users:\n  - name: app\n    rules: [\"~app:*\", \"+@read\", \"(~cache:* +get)\", \"off\"]\n    passwordSecret: {name: app-password, key: password}", 1)
	require.Empty(t, s.validate(t, manifest))
}
