package wal

import (
	"os"
	"sync"
)

// prefaultLead is how far past the end of its records the active mapped
// segment is kept populated: the writer asks for more when less than half
// of it is left, so each request covers about prefaultLead/2.
const prefaultLead = 2 << 20

// prefaulter faults in the pages of the active mapped segment ahead of the
// writer, on a goroutine of its own.
//
// A store into a page of the mapping that was never touched stops on a
// page fault, in which the kernel allocates the page, zeroes it and
// reserves its block in the sparse file: about 3 µs, once per 4 KiB, or a
// tenth of the committing goroutine's time in a stream of small unsynced
// commits. Populating the pages in bulk (one system call per megabyte) is
// cheaper in total and, done on another goroutine, leaves the committing
// one only the copy. Populated pages hold zeros until the records reach
// them; they are dirty, so writeback may store those zeros, which is what
// the sparse file read as anyway. Rotation and Close cut the file back to
// its records as before.
//
// Populating is best effort: the first error (an old kernel without
// MADV_POPULATE_WRITE, or no space to back a page) turns it off for the
// log's life, and stores fault their pages in themselves, reporting a
// page that cannot be backed as before.
type prefaulter struct {
	pageSize int
	// onError is told of the error that turned populating off.
	onError func(error)

	mu sync.Mutex
	// populate faults pages in (vfs.WritePopulator); under mu so that
	// tests can swap it.
	populate func([]byte) error
	cond     sync.Cond
	// data is the mapping being populated, nil when there is none; done
	// and want are offsets into it: populated up to done, asked up to
	// want.
	data       []byte
	done, want int
	// busy says the goroutine is populating part of data, outside mu.
	busy bool
	// off says populating failed once and is off.
	off bool

	wake, quit, exited chan struct{}
}

// newPrefaulter starts a prefaulter that populates with populate.
func newPrefaulter(populate func([]byte) error, onError func(error)) *prefaulter {
	p := &prefaulter{
		populate: populate,
		pageSize: os.Getpagesize(),
		onError:  onError,
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	p.cond.L = &p.mu
	go p.run()
	return p
}

// ahead tells the prefaulter that records now end at end in data, the
// active segment's mapping, and returns the offset up to which it has
// been asked to populate: the writer need not call again before its
// records pass half of the lead left below that offset.
func (p *prefaulter) ahead(data []byte, end int) (asked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return len(data)
	}
	if p.data == nil || &p.data[0] != &data[0] {
		// A new segment: nothing below its end needs populating.
		p.data = data
		p.done = end &^ (p.pageSize - 1)
		p.want = p.done
	}
	// Whole pages: the next range starts where this one ends.
	p.want = max(p.want, min((end+prefaultLead+p.pageSize-1)&^(p.pageSize-1), len(data)))
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return p.want
}

// forget stops populating data and waits for a running populate to end,
// so that data can be unmapped.
func (p *prefaulter) forget(data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.data != nil && len(data) > 0 && &p.data[0] == &data[0] {
		p.data = nil
	}
	for p.busy {
		p.cond.Wait()
	}
}

// stop ends the goroutine, waiting for a running populate to end.
func (p *prefaulter) stop() {
	close(p.quit)
	<-p.exited
}

func (p *prefaulter) run() {
	defer close(p.exited)
	for {
		select {
		case <-p.wake:
		case <-p.quit:
			return
		}
		for p.step() {
		}
	}
}

// step populates what is asked and not yet done, reporting whether it did
// anything.
func (p *prefaulter) step() bool {
	p.mu.Lock()
	if p.off || p.data == nil || p.done >= p.want {
		p.mu.Unlock()
		return false
	}
	data, from, to, populate := p.data, p.done, p.want, p.populate
	p.busy = true
	p.mu.Unlock()

	err := populate(data[from:to])

	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy = false
	p.cond.Broadcast()
	if err != nil {
		p.off = true
		if p.onError != nil {
			p.onError(err)
		}
		return false
	}
	if p.data != nil && &p.data[0] == &data[0] {
		p.done = max(p.done, to)
	}
	return true
}
