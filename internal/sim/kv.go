package sim

import (
	"container/list"
	"hash/maphash"
)

// kvCache is a paged KV cache: fixed-size blocks handed to sequences as they
// grow. With prefix caching, a full block of prompt tokens is registered
// under a hash of its tokens and of every block before it, so a later
// sequence with the same prefix reuses it instead of computing it again. A
// freed block keeps its hash until it is reused (least recently freed first),
// as in vLLM.
type kvCache struct {
	blockSize int
	blocks    []kvBlock
	free      *list.List // block ids with refs == 0, least recently freed at the front
	cached    map[uint64]int
	caching   bool
	used      int // blocks with refs > 0
	seed      maphash.Seed
}

type kvBlock struct {
	refs   int
	hash   uint64
	hashed bool
	elem   *list.Element // in free while refs == 0
}

func newKVCache(numBlocks, blockSize int, caching bool) *kvCache {
	kv := &kvCache{blockSize: blockSize, blocks: make([]kvBlock, numBlocks), free: list.New(), cached: map[uint64]int{}, caching: caching, seed: maphash.MakeSeed()}
	for i := range kv.blocks {
		kv.blocks[i].elem = kv.free.PushBack(i)
	}
	return kv
}

func (kv *kvCache) numBlocks() int { return len(kv.blocks) }

// usage is the fraction of blocks in use, 0–1.
func (kv *kvCache) usage() float64 {
	if len(kv.blocks) == 0 {
		return 0
	}
	return float64(kv.used) / float64(len(kv.blocks))
}

func (kv *kvCache) blockHash(parent uint64, tokens []int) uint64 {
	var h maphash.Hash
	h.SetSeed(kv.seed)
	var b [8]byte
	put := func(v uint64) {
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		h.Write(b[:])
	}
	put(parent)
	for _, t := range tokens {
		put(uint64(t))
	}
	return h.Sum64()
}

func (kv *kvCache) ref(id int) {
	b := &kv.blocks[id]
	if b.refs == 0 {
		kv.free.Remove(b.elem)
		b.elem = nil
		kv.used++
	}
	b.refs++
}

func (kv *kvCache) unref(id int) {
	b := &kv.blocks[id]
	b.refs--
	if b.refs == 0 {
		b.elem = kv.free.PushBack(id)
		kv.used--
	}
}

// hit is what a lookup found cached of a sequence's tokens: the blocks and
// their hashes, in order.
type hit struct {
	ids    []int
	hashes []uint64
}

// tokens is how many tokens the hit covers.
func (h hit) tokens(bs int) int { return len(h.ids) * bs }

// tokenAt is the id of s's token i: its prompt's, then a stand-in for what
// it generated, unique to s (the simulator draws no real output tokens), so
// that a preempted sequence finds its own output's blocks again, as in vLLM,
// and nothing else ever does.
func tokenAt(s *seq, i int) int {
	if i < len(s.prompt) {
		return s.prompt[i]
	}
	return -int(s.id<<24) - i - 1
}

func (kv *kvCache) hashOf(s *seq, i int, parent uint64) uint64 {
	bs := kv.blockSize
	if (i+1)*bs <= len(s.prompt) { // a prompt block: its tokens as they are
		return kv.blockHash(parent, s.prompt[i*bs:(i+1)*bs])
	}
	toks := make([]int, bs)
	for j := range toks {
		toks[j] = tokenAt(s, i*bs+j)
	}
	return kv.blockHash(parent, toks)
}

// lookup finds the cached blocks of s's tokens, from the first, without
// taking them (vLLM's get_computed_blocks). At least one token is always left
// to compute, as vLLM does, so the step that finishes the prompt samples the
// next token.
func (kv *kvCache) lookup(s *seq) hit {
	var h hit
	if !kv.caching {
		return h
	}
	var parent uint64
	for i := 0; i < (s.tokens()-1)/kv.blockSize; i++ {
		hash := kv.hashOf(s, i, parent)
		id, ok := kv.cached[hash]
		if !ok {
			break
		}
		h.ids = append(h.ids, id)
		h.hashes = append(h.hashes, hash)
		parent = hash
	}
	return h
}

// admit makes a waiting s, holding no blocks, a holder of the cached blocks
// h found and of new blocks for n tokens past them, if the free blocks can
// hold its whole length — cached blocks no sequence holds count against the
// free ones, since taking them takes them off the free list (vLLM 0.32.0's
// allocate_slots with full_sequence_must_fit, its default). It returns false,
// taking nothing, when they cannot: a waiting sequence holds nothing.
func (kv *kvCache) admit(s *seq, h hit, n int) bool {
	bs := kv.blockSize
	need := (s.tokens()+bs-1)/bs - len(h.ids)
	for _, id := range h.ids {
		if kv.blocks[id].refs == 0 {
			need++
		}
	}
	if need > kv.free.Len() {
		return false
	}
	for _, id := range h.ids {
		kv.ref(id)
	}
	s.blocks = append(s.blocks, h.ids...)
	s.hashes = append(s.hashes, h.hashes...)
	s.computed = h.tokens(bs)
	return kv.allocate(s, s.computed+n)
}

// lacks is how many blocks s needs beyond those it holds for tokens tokens.
func (kv *kvCache) lacks(s *seq, tokens int) int {
	return (tokens+kv.blockSize-1)/kv.blockSize - len(s.blocks)
}

// allocate makes s hold enough blocks for tokens tokens. It returns false,
// taking nothing, when there are not enough free blocks.
func (kv *kvCache) allocate(s *seq, tokens int) bool {
	need := kv.lacks(s, tokens)
	if need <= 0 {
		return true
	}
	if need > kv.free.Len() {
		return false
	}
	for range need {
		e := kv.free.Front()
		id := e.Value.(int)
		b := &kv.blocks[id]
		if b.hashed { // evict the cached content it held
			if kv.cached[b.hash] == id {
				delete(kv.cached, b.hash)
			}
			b.hashed = false
		}
		kv.ref(id)
		s.blocks = append(s.blocks, id)
	}
	return true
}

// commit registers the full blocks of s's first upto tokens, so later
// sequences (and s itself, after a preemption) can reuse them. As vLLM does,
// the scheduler commits a step's blocks when it schedules them, so a request
// admitted later in the same step already finds them.
func (kv *kvCache) commit(s *seq, upto int) {
	if !kv.caching {
		return
	}
	full := min(upto, s.tokens()) / kv.blockSize
	for i := len(s.hashes); i < full; i++ {
		var parent uint64
		if i > 0 {
			parent = s.hashes[i-1]
		}
		h := kv.hashOf(s, i, parent)
		s.hashes = append(s.hashes, h)
		id := s.blocks[i]
		if _, dup := kv.cached[h]; !dup {
			kv.cached[h] = id
			kv.blocks[id].hash, kv.blocks[id].hashed = h, true
		}
	}
}

// release returns every block of s; blocks are freed last-first so that the
// tail of a sequence is evicted before its (more shareable) head.
func (kv *kvCache) release(s *seq) {
	for i := len(s.blocks) - 1; i >= 0; i-- {
		kv.unref(s.blocks[i])
	}
	s.blocks = s.blocks[:0]
	s.hashes = s.hashes[:0]
}

// reset drops every cached prefix that no sequence holds (POST /reset_prefix_cache).
func (kv *kvCache) reset() bool {
	if kv.used > 0 {
		return false
	}
	for i := range kv.blocks {
		kv.blocks[i].hashed = false
	}
	clear(kv.cached)
	return true
}
