package tui

// chunkLen is the number of elements in a chunk of a chunked list.
const chunkLen = 4096

// chunked is a list kept in chunks of chunkLen elements: it grows
// without copying what it holds (a slice would copy all of it, and hold
// the old and the new array at once, each time it grows), and it can
// forget its first elements, releasing the chunks they filled.
type chunked[T any] struct {
	chunks [][]T
	off    int // index of the first element in chunks[0]
	n      int
}

func (c *chunked[T]) len() int { return c.n }

// at returns element i, which must be below len.
func (c *chunked[T]) at(i int) *T {
	g := c.off + i
	return &c.chunks[g/chunkLen][g%chunkLen]
}

func (c *chunked[T]) append(v T) {
	g := c.off + c.n
	if g/chunkLen == len(c.chunks) {
		c.chunks = append(c.chunks, make([]T, chunkLen))
	}
	c.chunks[g/chunkLen][g%chunkLen] = v
	c.n++
}

// dropFront forgets the first k elements.
func (c *chunked[T]) dropFront(k int) {
	k = min(k, c.n)
	c.off += k
	c.n -= k
	if d := c.off / chunkLen; d > 0 {
		c.chunks = append(c.chunks[:0], c.chunks[d:]...)
		clear(c.chunks[len(c.chunks):cap(c.chunks)][:d])
		c.off -= d * chunkLen
	}
}

// reset forgets every element.
func (c *chunked[T]) reset() { *c = chunked[T]{} }
