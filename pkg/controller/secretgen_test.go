package controller

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMonitorPasswordsAreLongAndEachClusterItsOwn(t *testing.T) {
	a, b := newMonitorPassword(), newMonitorPassword()
	require.Len(t, a, 48)
	require.NotEqual(t, a, b)
}
