// Copyright (c) Quiver authors.
//
// API-key authentication: "Authorization: Bearer <key>".

#ifndef QUIVER_SERVER_AUTH_H_
#define QUIVER_SERVER_AUTH_H_

#include <string_view>

namespace quiver::server {

/// True iff a == b. Its running time depends only on b.size() (the secret's
/// length), never on where the strings first differ, so the key cannot be
/// guessed byte by byte from response times.
bool ConstantTimeEquals(std::string_view a, std::string_view expected);

/// True iff `authorization` (the header's value, "" if absent) is
/// "Bearer <api_key>" (scheme case-insensitive, as RFC 7235 says).
/// `api_key` must not be empty.
bool IsAuthorized(std::string_view authorization, std::string_view api_key);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_AUTH_H_
