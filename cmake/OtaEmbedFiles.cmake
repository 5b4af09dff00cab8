# ota_embed_files(OUT_SOURCE FUNCTION_NAME DIR): generates, at build time, a
# .cc defining `std::vector<ota::server::EmbeddedFile> FUNCTION_NAME()` (a
# namespace qualified name allowed) with the bytes of every file directly in
# DIR, so that a binary carries them and reads nothing at run time. Editing a
# file regenerates the source; adding or removing one reconfigures.
function(ota_embed_files out_var function_name dir)
  file(GLOB files CONFIGURE_DEPENDS ${dir}/*)
  list(SORT files)
  string(REPLACE "::" "_" safe_name ${function_name})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${safe_name}_files.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DFUNCTION=${function_name} "-DFILES=${files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/OtaEmbedFilesScript.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/OtaEmbedFilesScript.cmake
    COMMENT "Embedding ${dir}"
    VERBATIM)
  # Large byte arrays compile on their own, outside unity batches.
  set_source_files_properties(${out} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
