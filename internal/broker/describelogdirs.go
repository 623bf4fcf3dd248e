package broker

// DescribeLogDirs (key 35), versions 1-5.
//
// Every log dir with the partitions in it and their size on disk; null
// topics = all. v4 adds TotalBytes and UsableBytes (statfs). v5 adds
// IsCordoned (KIP-1066): samsa cannot cordon a log dir, so it is false.

import (
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeLogDirs, 1, 5, keepsFrame, (*Broker).handleDescribeLogDirs) }

func (b *Broker) handleDescribeLogDirs(r *request, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	resp := kmsg.NewPtrDescribeLogDirsResponse()
	resp.SetVersion(r.hdr.Version)
	want := func(topic string, p int32) bool {
		if req.Topics == nil {
			return true
		}
		for _, t := range req.Topics {
			if t.Topic == topic {
				for _, q := range t.Partitions {
					if q == p {
						return true
					}
				}
			}
		}
		return false
	}
	byDir := map[string]map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	for _, p := range b.parts.all() {
		if !want(p.topic, p.index) {
			continue
		}
		dir := filepath.Dir(p.dir)
		if byDir[dir] == nil {
			byDir[dir] = map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition, dp.Size = p.index, p.log.Size()
		byDir[dir][p.topic] = append(byDir[dir][p.topic], dp)
	}
	for _, dir := range b.opts.LogDirs {
		d := kmsg.NewDescribeLogDirsResponseDir()
		abs, _ := filepath.Abs(dir)
		d.Dir = abs
		d.TotalBytes, d.UsableBytes = -1, -1
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) == nil {
			d.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
			d.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
		}
		for topic, parts := range byDir[dir] {
			dt := kmsg.NewDescribeLogDirsResponseDirTopic()
			dt.Topic, dt.Partitions = topic, parts
			d.Topics = append(d.Topics, dt)
		}
		resp.Dirs = append(resp.Dirs, d)
	}
	r.respond(resp)
}
