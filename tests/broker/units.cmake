# Unit tests of the broker's rooms, one folder per room (tests/CMakeLists.txt includes this).
