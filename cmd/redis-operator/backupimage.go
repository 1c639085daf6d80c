package main

import (
	"os"
	"regexp"
)

var imageTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// defaultBackupImage is $OPERATOR_IMAGE (the chart sets it to the operator's own image), or the
// image `make image` tags this build with, which the sandbox runs from bin/.
func defaultBackupImage() string {
	if image := os.Getenv("OPERATOR_IMAGE"); image != "" {
		return image
	}
	tag := readBuildInfo().Version
	if !imageTag.MatchString(tag) {
		tag = "dev" // a build without a version ("(devel)")
	}
	return "redis-operator:" + tag
}
