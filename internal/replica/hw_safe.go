//go:build !chaosbroken

package replica

// followersHoldHW is true in every real build: the high watermark is the
// minimum over the leader and its (maximal) ISR. The chaos harness's
// validation builds samsa with the chaosbroken tag (hw_broken.go), where it
// is false, to show that its checker catches the writes that loses.
const followersHoldHW = true
