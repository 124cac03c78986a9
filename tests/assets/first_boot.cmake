# Tests of assets/first-boot.sh (issue 7).
