# _ftervit as a user C module of a CMake-based port (esp32, rp2):
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 BOARD_VARIANT=SPIRAM_OCT \
#        USER_C_MODULES=/abs/path/native_module/micropython/micropython.cmake
# Sources: the binding and every C file of the runtime core (native_module/*.c).
add_library(usermod_ftervit INTERFACE)

file(GLOB FTERVIT_CORE_SOURCES ${CMAKE_CURRENT_LIST_DIR}/../*.c)

target_sources(usermod_ftervit INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/_ftervit.c
    ${FTERVIT_CORE_SOURCES}
)

target_include_directories(usermod_ftervit INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/..
)

target_link_libraries(usermod INTERFACE usermod_ftervit)
