package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// StripManagedFields is an informer transform that drops managedFields, which make up much of a
// cached object's memory; the status writer reads them once per cluster from the API server.
func StripManagedFields(obj interface{}) (interface{}, error) {
	if accessor, err := meta.Accessor(obj); err == nil {
		accessor.SetManagedFields(nil)
	}
	return obj, nil
}
