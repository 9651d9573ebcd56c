package kube

import "k8s.io/client-go/tools/cache"

// cacheTombstone is what a watch hands over for a Pod deleted while it
// was not looking.
type cacheTombstone = cache.DeletedFinalStateUnknown
