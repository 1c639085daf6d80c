package chart

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	apivalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// certManagerModule is the cert-manager release whose Certificate CRD the chart's Certificates
// are checked against.
const certManagerModule = "github.com/cert-manager/cert-manager@v1.16.2"

// certificateCRD is the v1 schema of cert-manager's Certificate CRD, read from its module.
func certificateCRD(t *testing.T) (apivalidation.SchemaValidator, *structuralschema.Structural) {
	t.Helper()
	download := exec.Command("go", "mod", "download", "-json", certManagerModule)
	download.Dir, download.Env = t.TempDir(), append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := download.Output()
	require.NoError(t, err, "go mod download %s", certManagerModule)
	var module struct{ Dir string }
	require.NoError(t, json.Unmarshal(out, &module))
	raw, err := os.ReadFile(filepath.Join(module.Dir, "deploy", "crds", "crd-certificates.yaml"))
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.Unmarshal(raw, &crd))
	for _, v := range crd.Spec.Versions {
		if v.Name != "v1" {
			continue
		}
		var props apiextensions.JSONSchemaProps
		require.NoError(t, apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &props, nil))
		validator, _, err := apivalidation.NewSchemaValidator(&props)
		require.NoError(t, err)
		structural, err := structuralschema.NewStructural(&props)
		require.NoError(t, err)
		return validator, structural
	}
	t.Fatal("the CRD has no v1")
	return nil, nil
}

// The chart makes a cert-manager Certificate for each entry, with both usages every node needs,
// which cert-manager's own CRD schema accepts; an entry without an issuer is refused by the
// values schema.
func TestCertManagerCertificates(t *testing.T) {
	require.Empty(t, render(t, renderOptions{}).ofKind("Certificate"), "none unless asked")
	objs := render(t, renderOptions{values: `
certManager:
  certificates:
  - secretName: rediscluster1-tls
    namespace: redis
    issuerRef: {name: redis-ca}
  - secretName: other-tls
    issuerRef: {name: company-ca, kind: ClusterIssuer}
    duration: 720h
    renewBefore: 240h
    ipAddresses: [10.0.0.1]
    dnsNames: [redis.example]
`})
	certificates := objs.ofKind("Certificate")
	require.Len(t, certificates, 2)
	validator, structural := certificateCRD(t)
	celValidator := cel.NewValidator(structural, true, celconfig.PerCallLimit)
	for _, c := range certificates {
		var obj map[string]interface{}
		require.NoError(t, json.Unmarshal(c.raw, &obj))
		errs := apivalidation.ValidateCustomResource(nil, obj, validator)
		celErrs, _ := celValidator.Validate(context.Background(), nil, structural, obj, nil, celconfig.RuntimeCELCostBudget)
		require.Empty(t, append(errs, celErrs...), "%s against cert-manager's schema", c)
		usages := c.field(t, "spec", "usages")
		require.Contains(t, usages, "server auth", c.String())
		require.Contains(t, usages, "client auth", c.String())
		require.Equal(t, c.Name, c.field(t, "spec", "secretName"))
	}
	var wrong map[string]interface{}
	require.NoError(t, json.Unmarshal(certificates[0].raw, &wrong))
	wrong["spec"].(map[string]interface{})["usages"] = []interface{}{"server-auth"}
	require.NotEmpty(t, apivalidation.ValidateCustomResource(nil, wrong, validator), "the schema check can fail")
	require.Equal(t, "redis", certificates[0].Namespace)
	require.Equal(t, "Issuer", certificates[0].field(t, "spec", "issuerRef", "kind"))
	require.Equal(t, "ops", certificates[1].Namespace, "the release's")
	require.Equal(t, "720h", certificates[1].field(t, "spec", "duration"))

	_, err := renderErr(t, renderOptions{values: "certManager:\n  certificates:\n  - secretName: x-tls\n"})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "issuerRef"), "%v", err)
}
