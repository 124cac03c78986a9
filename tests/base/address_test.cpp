#include "base/address.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

AddressClass Kind(const char* text) { return ClassifyAddress(*ParseIpAddress(text)); }

TEST(Address, EachKindOfNetworkIsNamed) {
  EXPECT_EQ(Kind("127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(Kind("127.200.1.1"), AddressClass::kLoopback);
  EXPECT_EQ(Kind("::1"), AddressClass::kLoopback);
  EXPECT_EQ(Kind("::ffff:127.0.0.1"), AddressClass::kLoopback) << "IPv4-mapped";
  EXPECT_EQ(Kind("169.254.169.254"), AddressClass::kLinkLocal);
  EXPECT_EQ(Kind("fe80::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(Kind("febf::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(Kind("10.1.2.3"), AddressClass::kPrivate);
  EXPECT_EQ(Kind("172.16.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(Kind("172.31.255.255"), AddressClass::kPrivate);
  EXPECT_EQ(Kind("192.168.1.1"), AddressClass::kPrivate);
  EXPECT_EQ(Kind("100.64.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(Kind("fd00:ec2::254"), AddressClass::kPrivate);
  EXPECT_EQ(Kind("0.0.0.0"), AddressClass::kReserved);
  EXPECT_EQ(Kind("::"), AddressClass::kReserved);
  EXPECT_EQ(Kind("224.0.0.1"), AddressClass::kReserved);
  EXPECT_EQ(Kind("255.255.255.255"), AddressClass::kReserved);
  EXPECT_EQ(Kind("ff02::1"), AddressClass::kReserved);
  EXPECT_EQ(Kind("172.32.0.1"), AddressClass::kPublic);
  EXPECT_EQ(Kind("8.8.8.8"), AddressClass::kPublic);
  EXPECT_EQ(Kind("2001:db8::1"), AddressClass::kPublic);
  EXPECT_EQ(Kind("fec0::1"), AddressClass::kPublic);
}

// An IPv6 address that carries an IPv4 one reaches that IPv4 host: it is classed as it.
TEST(Address, IPv6ThatCarriesIPv4IsClassedAsThatAddress) {
  EXPECT_EQ(Kind("64:ff9b::7f00:1"), AddressClass::kLoopback) << "NAT64 of 127.0.0.1";
  EXPECT_EQ(Kind("64:ff9b::a9fe:a9fe"), AddressClass::kLinkLocal) << "NAT64 of 169.254.169.254";
  EXPECT_EQ(Kind("64:ff9b::808:808"), AddressClass::kPublic);
  EXPECT_EQ(Kind("64:ff9b:1::1"), AddressClass::kPrivate) << "local-use NAT64";
  EXPECT_EQ(Kind("2002:7f00:1::1"), AddressClass::kLoopback) << "6to4 of 127.0.0.1";
  EXPECT_EQ(Kind("2002:a00:1::"), AddressClass::kPrivate) << "6to4 of 10.0.0.1";
  EXPECT_EQ(Kind("::127.0.0.1"), AddressClass::kLoopback) << "IPv4-compatible";
  EXPECT_EQ(Kind("::10.1.1.1"), AddressClass::kPrivate) << "IPv4-compatible";
  EXPECT_EQ(Kind("198.18.0.1"), AddressClass::kPrivate) << "benchmarking";
  EXPECT_EQ(Kind("198.19.255.255"), AddressClass::kPrivate);
  EXPECT_EQ(Kind("198.20.0.1"), AddressClass::kPublic);
}

TEST(Address, HostsLoseTheirPortAndBrackets) {
  EXPECT_EQ(HostWithoutPort("registry.example:5000"), "registry.example");
  EXPECT_EQ(HostWithoutPort("registry.example"), "registry.example");
  EXPECT_EQ(HostWithoutPort("[::1]:5000"), "::1");
  EXPECT_EQ(HostWithoutPort("[fe80::1]"), "fe80::1");
  EXPECT_EQ(LiteralHostAddress("localhost")->String(), "127.0.0.1");
  EXPECT_EQ(LiteralHostAddress("::1")->String(), "::1");
  EXPECT_FALSE(LiteralHostAddress("registry.example"));
}

TEST(Address, OnlyLiteralsParse) {
  EXPECT_EQ(ParseIpAddress("[::1]")->String(), "::1");
  EXPECT_EQ(ParseIpAddress("10.0.0.1")->String(), "10.0.0.1");
  EXPECT_FALSE(ParseIpAddress("localhost"));
  EXPECT_FALSE(ParseIpAddress("10.0.0"));
  EXPECT_FALSE(ParseIpAddress(""));
}

TEST(Cidr, ContainsWhatItsPrefixCovers) {
  auto range = ParseCidr("10.20.0.0/16");
  ASSERT_TRUE(range) << range.error().message;
  EXPECT_TRUE(range->Contains(*ParseIpAddress("10.20.255.1")));
  EXPECT_FALSE(range->Contains(*ParseIpAddress("10.21.0.1")));
  EXPECT_FALSE(range->Contains(*ParseIpAddress("::ffff:10.21.0.1")));
  EXPECT_TRUE(ParseCidr("fd00::/8")->Contains(*ParseIpAddress("fd12::1")));
  EXPECT_TRUE(ParseCidr("127.0.0.1")->Contains(*ParseIpAddress("127.0.0.1")));
  EXPECT_FALSE(ParseCidr("127.0.0.1")->Contains(*ParseIpAddress("127.0.0.2")));
  EXPECT_TRUE(ParseCidr("0.0.0.0/0")->Contains(*ParseIpAddress("8.8.8.8")));
}

TEST(Cidr, MistakesAreNamed) {
  EXPECT_NE(ParseCidr("10.0.0.1/8").error().message.find("host bits"), std::string::npos);
  EXPECT_NE(ParseCidr("10.0.0.0/33").error().message.find("longer"), std::string::npos);
  EXPECT_FALSE(ParseCidr("10.0.0.0/"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/x"));
  EXPECT_FALSE(ParseCidr("example.com/8"));
}

}  // namespace
}  // namespace banger
