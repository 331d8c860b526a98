// Copyright (c) Quiver authors.

#include "server/auth.h"

#include <cctype>
#include <cstddef>

namespace quiver::server {

bool ConstantTimeEquals(std::string_view a, std::string_view expected) {
  // Every byte of `expected` is compared, whatever `a` is; bytes of `a` past
  // its end compare as 0 and the length difference is folded in at the end.
  // volatile keeps the compiler from turning the loop into an early exit.
  volatile unsigned char difference = a.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char given = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    difference = difference | (given ^ static_cast<unsigned char>(expected[i]));
  }
  return difference == 0;
}

bool IsAuthorized(std::string_view authorization, std::string_view api_key) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return ConstantTimeEquals(token, api_key);
}

}  // namespace quiver::server
