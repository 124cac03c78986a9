# libFuzzer needs clang; the project itself builds with g++. Fuzz targets are therefore
# compiled by a custom command with clang++ from an explicit list of sources that have
# no third-party dependencies, and run for a bounded number of iterations under ctest.
if(BANGER_FUZZ STREQUAL "OFF")
  return()
endif()
find_program(BANGER_CLANGXX NAMES clang++ clang++-16 clang++-15 clang++-14)
if(NOT BANGER_CLANGXX)
  if(BANGER_FUZZ STREQUAL "ON")
    message(FATAL_ERROR "BANGER_FUZZ=ON needs clang++ (apt-get install clang); scripts/install-deps.sh installs it")
  endif()
  message(STATUS "clang++ not found: fuzz targets are not built")
  return()
endif()
set(BANGER_HAVE_FUZZERS ON)

# Each source is compiled once, by a command of its own (so in parallel), into
# fuzz-objects/, and shared by every fuzz target that lists it. The targets link after
# `fuzz-objects` has built them all: a custom command's output listed by two targets that
# build in parallel could otherwise be written twice at once.
function(banger_fuzz_object source out_var)
  string(REPLACE "/" "_" flat "${source}")
  set(object "${CMAKE_BINARY_DIR}/fuzz-objects/${flat}.o")
  if(NOT TARGET fuzz-objects)
    add_custom_target(fuzz-objects)
    file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/fuzz-objects")
  endif()
  get_property(known GLOBAL PROPERTY BANGER_FUZZ_OBJECTS)
  if(NOT object IN_LIST known)
    add_custom_command(
      OUTPUT ${object}
      COMMAND ${BANGER_CLANGXX} -std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined
              -I${CMAKE_SOURCE_DIR} -MD -MF ${object}.d -c ${CMAKE_SOURCE_DIR}/${source} -o ${object}
      DEPENDS ${CMAKE_SOURCE_DIR}/${source}
      DEPFILE ${object}.d
      COMMENT "Compiling ${source} for the fuzz targets with clang++"
      VERBATIM)
    set_property(GLOBAL APPEND PROPERTY BANGER_FUZZ_OBJECTS ${object})
    target_sources(fuzz-objects PRIVATE ${object})
  endif()
  set(${out_var} ${object} PARENT_SCOPE)
endfunction()

# banger_add_fuzzer(NAME name SOURCES a.cpp b.cpp RUNS n [LIBS -lfoo] [CORPUS dir])
function(banger_add_fuzzer)
  cmake_parse_arguments(FUZZ "" "NAME;RUNS;CORPUS" "SOURCES;LIBS" ${ARGN})
  set(output ${CMAKE_BINARY_DIR}/bin/${FUZZ_NAME})
  set(objects)
  foreach(source IN LISTS FUZZ_SOURCES)
    banger_fuzz_object(${source} object)
    list(APPEND objects ${object})
  endforeach()
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${BANGER_CLANGXX} -fsanitize=fuzzer,address,undefined ${objects} ${FUZZ_LIBS} -o ${output}
    DEPENDS ${objects}
    COMMENT "Linking fuzz target ${FUZZ_NAME} with clang++"
    VERBATIM)
  add_custom_target(${FUZZ_NAME}-build ALL DEPENDS ${output})
  add_dependencies(${FUZZ_NAME}-build fuzz-objects)
  if(BANGER_BUILD_TESTS)
    set(corpus)
    if(FUZZ_CORPUS)
      # libFuzzer writes new inputs into its first corpus directory: give it a scratch
      # copy, and the checked-in seeds read-only as the second.
      set(corpus ${CMAKE_BINARY_DIR}/fuzz-corpus/${FUZZ_NAME} ${CMAKE_SOURCE_DIR}/${FUZZ_CORPUS})
      file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-corpus/${FUZZ_NAME})
    endif()
    add_test(NAME fuzz.${FUZZ_NAME}
             COMMAND ${output} -runs=${FUZZ_RUNS} -seed=1 -max_len=65536 -max_total_time=120 -rss_limit_mb=2048 ${corpus})
  endif()
endfunction()
