"""gammacore.boards"""
