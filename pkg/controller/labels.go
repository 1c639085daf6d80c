package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
)

// StripManagedFields is an informer transform that drops managedFields, which the controller
// never reads and which make up much of a cached object's memory.
func StripManagedFields(obj interface{}) (interface{}, error) {
	if accessor, err := meta.Accessor(obj); err == nil {
		accessor.SetManagedFields(nil)
	}
	return obj, nil
}
