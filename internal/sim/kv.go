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

// match finds the cached blocks of s's prompt prefix and takes them for s.
// It returns how many tokens are already computed. At least one prompt token
// is always left to compute, as vLLM does, so the step that finishes the
// prompt samples the first token.
func (kv *kvCache) match(s *seq) int {
	if !kv.caching {
		return 0
	}
	bs := kv.blockSize
	full := (len(s.prompt) - 1) / bs
	var parent uint64
	n := 0
	for i := 0; i < full; i++ {
		h := kv.blockHash(parent, s.prompt[i*bs:(i+1)*bs])
		id, ok := kv.cached[h]
		if !ok {
			break
		}
		kv.ref(id)
		s.blocks = append(s.blocks, id)
		s.hashes = append(s.hashes, h)
		parent = h
		n++
	}
	return n * bs
}

// lacks is how many blocks s needs beyond those it holds for tokens tokens.
func (kv *kvCache) lacks(s *seq, tokens int) int {
	return (tokens+kv.blockSize-1)/kv.blockSize - len(s.blocks)
}

// fits says whether s could hold tokens tokens: whether the blocks it lacks
// for them are free.
func (kv *kvCache) fits(s *seq, tokens int) bool { return kv.lacks(s, tokens) <= kv.free.Len() }

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

// commit registers the full prompt blocks of s computed so far, so later
// sequences can reuse them.
func (kv *kvCache) commit(s *seq) {
	if !kv.caching {
		return
	}
	bs := kv.blockSize
	full := min(s.computed, len(s.prompt)) / bs
	for i := len(s.hashes); i < full; i++ {
		var parent uint64
		if i > 0 {
			parent = s.hashes[i-1]
		}
		h := kv.blockHash(parent, s.prompt[i*bs:(i+1)*bs])
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
