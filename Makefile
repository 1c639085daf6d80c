# redis-operator. `make run` runs the operator (on a local sandbox when KUBECONFIG is unset);
# `make test` runs every test. Built binaries are cached under bin/ (ignored by git).
SHELL := /usr/bin/env bash
GO ?= go
KUBECTL := bin/k8s/kubectl

UNIT_PACKAGES := ./pkg/... ./cmd/...
# test/chart runs in test-chart, before them.
SYSTEM_PACKAGES = $(filter-out %/test/chart,$(shell $(GO) list ./test/...))

.PHONY: all build run test test-unit test-system lint verify-codegen generate manifests \
	sandbox-binaries sandbox-up sandbox-down clean chart-tools test-chart test-tools lint-tools image image-push

all: build

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

build: ## Build bin/redis-operator, stamped with VERSION and REVISION (redis-operator --version).
	$(GO) build -ldflags "-X main.version=$(VERSION) -X main.revision=$(REVISION)" -o bin/redis-operator ./cmd/redis-operator

IMAGE_ARCHS := amd64 arm64

image: ## Build bin/redis-operator.oci.tar: the operator's OCI image (linux/amd64 and linux/arm64), no container runtime needed.
	@for arch in $(IMAGE_ARCHS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath \
			-ldflags "-s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)" \
			-o bin/image/redis-operator-linux-$$arch ./cmd/redis-operator || exit 1; \
	done
	$(GO) run ./cmd/imagebuild -version $(VERSION) -revision $(REVISION) -out bin/redis-operator.oci.tar \
		$(foreach arch,$(IMAGE_ARCHS),$(arch)=bin/image/redis-operator-linux-$(arch))

# IMAGE is checked before `image` builds anything.
ifneq ($(filter image-push,$(MAKECMDGOALS)),)
ifeq ($(IMAGE),)
$(error make image-push: set IMAGE=host[:port]/name[:tag], for example IMAGE=registry.example/redis-operator:TAG)
endif
endif

image-push: image ## Push the image to IMAGE=host[:port]/name[:tag]; REGISTRY_USERNAME/REGISTRY_PASSWORD if asked; plain http on loopback or with INSECURE=1.
	$(GO) run ./cmd/imagepush -archive bin/redis-operator.oci.tar $(if $(INSECURE),-insecure )$(IMAGE)

bin/sandbox: FORCE
	$(GO) build -o bin/sandbox ./cmd/sandbox

run: ## Run the operator: against KUBECONFIG, or a local sandbox with the example cluster.
	hack/run.sh

test: lint verify-codegen sandbox-binaries ## Every test: unit, chart, then integration and e2e.
	$(MAKE) test-unit
	$(MAKE) test-chart
	$(MAKE) test-system

test-unit: test-tools ## Unit tests (fake clientsets, pure functions; pkg/redisops also starts real redis-server, pkg/backup versitygw).
	$(GO) test -count=1 -timeout 15m $(UNIT_PACKAGES)

# The e2e tests install the chart, whose pods the sandbox runs from bin/redis-operator.oci.tar.
test-system: sandbox-binaries test-tools image ## Integration and e2e tests on real redis-server and a real control plane.
	$(GO) test -count=1 -p 1 -timeout 40m $(SYSTEM_PACKAGES)

chart-tools: ## Build helm and promtool into bin/tools when missing or their pins changed.
	hack/chart-tools.sh

test-tools: ## Build Alertmanager (autoscaling e2e test) and versitygw (S3 server of test/s3test) into bin/tools when missing or a pin changed.
	hack/test-tools.sh alertmanager versitygw

test-chart: chart-tools ## Helm charts: lint, rendering, RBAC, values schema, alert rules (promtool).
	$(GO) test -count=1 -timeout 10m ./test/chart/...

lint-tools: ## Build staticcheck into bin/tools when missing or its pin changed.
	hack/lint-tools.sh

# Generated code (pkg/generated, zz_generated.*) is left out of staticcheck's report: staticcheck
# skips "Code generated ... DO NOT EDIT." files for most checks but not all (SA1019 deprecations).
lint: lint-tools ## gofmt, go vet, tidy go.mod of every module, staticcheck.
	@unformatted="$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' | grep -v '^pkg/generated/'))"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@untidy=0; for dir in . hack/tools/*/; do \
		if ! diff="$$(cd "$$dir" && $(GO) mod tidy -diff 2>&1)"; then \
			echo "go mod tidy needed in $${dir%/} ($$(cd "$$dir" && $(GO) list -m)):"; echo "$$diff"; untidy=1; \
		fi; \
	done; exit $$untidy
	@out="$$(bin/tools/staticcheck ./... 2>&1)"; rc=$$?; \
	out="$$(grep -vE '^(pkg/generated/|[^:]*zz_generated[^:]*\.go:|go: downloading )' <<<"$$out")"; \
	if [[ -n "$$out" || $$rc -gt 1 ]]; then echo "staticcheck:"; echo "$$out"; exit 1; fi

verify-codegen: ## Fail when generated code or the CRD is stale.
	hack/verify-codegen.sh

generate: ## Regenerate the client code and the CRD from pkg/apis.
	hack/update-codegen.sh

manifests: ## Regenerate the CRD in charts/redis-operator/crds.
	hack/update-crds.sh

sandbox-binaries: ## Build the control plane into bin/k8s and versitygw into bin/tools, and install redis-server and the redis exporter when missing.
	hack/sandbox-binaries.sh

sandbox-up: sandbox-binaries bin/sandbox ## Start the sandbox in the background.
	bin/sandbox up

sandbox-down: bin/sandbox ## Stop every process of the sandbox.
	bin/sandbox down

clean:
	rm -rf bin

FORCE:
