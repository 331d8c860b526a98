# Writes a C++ source defining `std::string_view <FUNCTION>()` in namespace
# quiver::server that returns the bytes of INPUT, so a file (server/openapi.json)
# ships inside the binary. Usage:
#   cmake -DINPUT=in.json -DOUTPUT=out.cc -DFUNCTION=OpenApiJson -DHEADER=server/openapi.h -P embed_text.cmake
# The bytes are written as a hex array: no escaping issues, any content.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# Break the array into lines of 16 bytes so compilers and editors stay happy.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT} by server/embed_text.cmake. Do not edit.\n"
"#include \"${HEADER}\"\n\n"
"namespace quiver::server {\n"
"namespace {\n"
"constexpr char kBytes[] = {\n    ${bytes}0x00};\n"
"}  // namespace\n\n"
"std::string_view ${FUNCTION}() { return std::string_view(kBytes, ${size}); }\n\n"
"}  // namespace quiver::server\n")
# Replace the output only when it changed, so dependents rebuild only then.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
