// Canonical fingerprints of mods: the cache key's identity of a mod.
//
// Equal for equivalent spellings (whitespace, comments, names of the mod, its
// parameters and its locals, a const versus its literal value, a call of
// another mod versus its body written out); different whenever the meaning
// differs (any operator, literal, type, param or buffer name or declaration).
#pragma once

#include "flexjit/AST.hpp"

#include <string>

namespace flexjit {

/// The canonical text the fingerprint hashes: mod kind, the interface
/// (params and buffers with their types), and the body with mod calls
/// inlined, consts folded, args as $0..$4, locals as %0.., fully
/// parenthesised, every node typed. Readable, for debugging cache keys.
std::string canonicalForm(const FileAST &file, const ModDecl &mod);

/// 32 lowercase hex digits: the first 128 bits of SHA-256 of canonicalForm.
std::string fingerprint(const FileAST &file, const ModDecl &mod);

} // namespace flexjit
