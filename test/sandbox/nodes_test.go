package sandbox

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func boundClaim(name, volume, request, capacity string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(StorageClassName),
			VolumeName:       volume,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse(request),
			}},
		},
		Status: corev1.PersistentVolumeClaimStatus{
			Phase:    corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)},
		},
	}
}

func volumeOf(pvc *corev1.PersistentVolumeClaim, capacity, provisioner string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvc.Spec.VolumeName, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)},
			StorageClassName: StorageClassName,
			ClaimRef:         &corev1.ObjectReference{Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
		},
	}
}

func TestResizeClaimGrowsVolumeAndClaim(t *testing.T) {
	pvc := boundClaim("data", "pv-1", "2Gi", "1Gi")
	pvc.Status.Conditions = []corev1.PersistentVolumeClaimCondition{
		{Type: corev1.PersistentVolumeClaimFileSystemResizePending, Status: corev1.ConditionTrue},
		{Type: "Other", Status: corev1.ConditionTrue},
	}
	pvc.Status.AllocatedResourceStatuses = map[corev1.ResourceName]corev1.ClaimResourceStatus{
		corev1.ResourceStorage: corev1.PersistentVolumeClaimNodeResizePending,
	}
	client := fake.NewClientset(pvc, volumeOf(pvc, "1Gi", provisionerName))
	s := &Sandbox{client: client}
	ctx := context.Background()
	require.NoError(t, s.resizeClaim(ctx, pvc))

	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "pv-1", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "2Gi", ptr.To(pv.Spec.Capacity[corev1.ResourceStorage]).String())
	got, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, "data", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "2Gi", ptr.To(got.Status.Capacity[corev1.ResourceStorage]).String())
	require.Equal(t, "2Gi", ptr.To(got.Status.AllocatedResources[corev1.ResourceStorage]).String())
	require.Empty(t, got.Status.AllocatedResourceStatuses)
	require.Len(t, got.Status.Conditions, 1)
	require.Equal(t, corev1.PersistentVolumeClaimConditionType("Other"), got.Status.Conditions[0].Type)
	require.False(t, needsResize(got))
}

func TestResizeClaimLeavesOthersAlone(t *testing.T) {
	ctx := context.Background()
	foreign := boundClaim("foreign", "pv-foreign", "2Gi", "1Gi")
	settled := boundClaim("settled", "pv-settled", "1Gi", "1Gi")
	otherClass := boundClaim("other-class", "pv-other", "2Gi", "1Gi")
	otherClass.Spec.StorageClassName = ptr.To("fast")
	client := fake.NewClientset(foreign, volumeOf(foreign, "1Gi", "example.com/other"),
		settled, volumeOf(settled, "1Gi", provisionerName), otherClass, volumeOf(otherClass, "1Gi", provisionerName))
	s := &Sandbox{client: client}
	for _, pvc := range []*corev1.PersistentVolumeClaim{foreign, settled, otherClass} {
		require.NoError(t, s.resizeClaim(ctx, pvc))
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, "1Gi", ptr.To(pv.Spec.Capacity[corev1.ResourceStorage]).String(), pvc.Name)
		got, err := client.CoreV1().PersistentVolumeClaims("ns").Get(ctx, pvc.Name, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, "1Gi", ptr.To(got.Status.Capacity[corev1.ResourceStorage]).String(), pvc.Name)
	}
}
